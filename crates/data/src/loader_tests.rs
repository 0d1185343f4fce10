use std::time::{Duration, Instant};

use super::*;
use crate::Images;

/// `n` examples of shape [2, 3, 3]; every byte of example i is i (mod 256); label i % 5.
fn dataset(n: usize) -> Arc<Dataset> {
    let images: Vec<u8> = (0..n).flat_map(|i| vec![(i % 256) as u8; 18]).collect();
    let labels: Vec<i64> = (0..n as i64).map(|i| i % 5).collect();
    let classes = (0..5).map(|c| c.to_string()).collect();
    Arc::new(Dataset::new(images, [2, 3, 3], labels, classes, "test").expect("valid dataset"))
}

fn options(batch_size: usize, drop_last: bool, workers: usize) -> LoaderOptions {
    LoaderOptions {
        batch_size,
        shuffle: true,
        drop_last,
        seed: 9,
        workers,
        prefetch: 2,
    }
}

fn loader(n: usize, opts: LoaderOptions) -> Loader {
    let norm = Normalization::given(&[0.1, 0.2], &[0.3, 0.4], 2).expect("valid normalization");
    Loader::new(dataset(n), (0..n).collect(), opts, norm).expect("valid loader")
}

#[test]
fn batches_do_not_depend_on_the_number_of_workers() {
    let collect = |workers| -> Vec<Batch> {
        loader(103, options(8, false, workers))
            .epoch(3)
            .collect::<Result<_, _>>()
            .expect("in-memory batches cannot fail")
    };
    let one = collect(1);
    assert_eq!(one.len(), 13);
    assert_eq!(one, collect(3));
    assert_eq!(one, collect(0));
}

#[test]
fn order_depends_on_seed_and_epoch_only() {
    let l = loader(50, options(50, false, 2));
    let e0: Vec<usize> = l
        .epoch(0)
        .map(|b| b.expect("in-memory batches cannot fail"))
        .flat_map(|b| b.indices)
        .collect();
    assert_eq!(e0, l.order(0));
    assert_eq!(e0, loader(50, options(50, false, 1)).order(0));
    assert_ne!(e0, l.order(1));
    let mut sorted = e0.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..50).collect::<Vec<_>>());

    let unshuffled = loader(
        50,
        LoaderOptions {
            shuffle: false,
            ..options(7, false, 2)
        },
    );
    let order: Vec<usize> = unshuffled
        .epoch(4)
        .map(|b| b.expect("in-memory batches cannot fail"))
        .flat_map(|b| b.indices)
        .collect();
    assert_eq!(order, (0..50).collect::<Vec<_>>());
}

#[test]
fn last_partial_batch_is_kept_or_dropped() {
    let keep = loader(10, options(4, false, 2));
    assert_eq!(keep.len(), 3);
    let sizes: Vec<usize> = keep
        .epoch(0)
        .map(|b| b.expect("in-memory batches cannot fail"))
        .map(|b| b.len())
        .collect();
    assert_eq!(sizes, [4, 4, 2]);

    let drop = loader(10, options(4, true, 2));
    assert_eq!(drop.batches_per_epoch(), 2);
    assert_eq!(drop.examples_per_epoch(), 8);
    let it = drop.epoch(0);
    assert_eq!(it.len(), 2);
    let sizes: Vec<usize> = it
        .map(|b| b.expect("in-memory batches cannot fail"))
        .map(|b| b.len())
        .collect();
    assert_eq!(sizes, [4, 4]);

    let exact = loader(8, options(4, true, 2));
    assert_eq!(exact.epoch(1).count(), 2);
    let tiny = loader(3, options(4, true, 2));
    assert!(tiny.is_empty());
    assert_eq!(tiny.epoch(0).count(), 0);
}

#[test]
fn batches_hold_normalised_images_and_labels() {
    let l = loader(20, options(6, false, 2));
    for batch in l
        .epoch(2)
        .map(|b| b.expect("in-memory batches cannot fail"))
    {
        assert_eq!(batch.images.shape()[1..], [2, 3, 3]);
        for (k, &i) in batch.indices.iter().enumerate() {
            assert_eq!(batch.labels[k], (i % 5) as i64);
            let v = i as f32 / 255.0;
            assert_eq!(batch.images[[k, 0, 1, 2]], (v - 0.1) / 0.3);
            assert_eq!(batch.images[[k, 1, 2, 0]], (v - 0.2) / 0.4);
        }
    }
}

#[test]
fn dropping_the_iterator_early_stops_the_workers() {
    let l = loader(
        2000,
        LoaderOptions {
            prefetch: 1,
            ..options(4, false, 3)
        },
    );
    let start = Instant::now();
    for _ in 0..20 {
        let mut it = l.epoch(0);
        assert!(it.next().is_some());
        drop(it);
        // Never started consuming at all.
        drop(l.epoch(1));
    }
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "dropping took {:?}",
        start.elapsed()
    );
}

#[test]
fn many_workers_with_slow_consumer_deliver_everything_in_order() {
    let l = loader(
        64,
        LoaderOptions {
            prefetch: 1,
            ..options(2, false, 8)
        },
    );
    let mut seen = Vec::new();
    for batch in l
        .epoch(5)
        .map(|b| b.expect("in-memory batches cannot fail"))
    {
        std::thread::sleep(Duration::from_millis(1));
        seen.extend(batch.indices);
    }
    assert_eq!(seen, l.order(5));
}

#[test]
fn new_checks_its_inputs() {
    let norm = Normalization::identity(2);
    let ds = dataset(5);
    let err = Loader::new(ds.clone(), vec![0, 5], options(2, false, 1), norm.clone());
    assert!(matches!(
        err,
        Err(DataError::IndexOutOfRange { index: 5, len: 5 })
    ));
    let err = Loader::new(ds.clone(), vec![0], options(0, false, 1), norm);
    assert!(matches!(err, Err(DataError::ZeroBatchSize)));
    let err = Loader::new(
        ds,
        vec![0],
        options(1, false, 1),
        Normalization::identity(3),
    );
    assert!(matches!(err, Err(DataError::NormChannels { .. })));
}

#[test]
fn a_worker_panic_reaches_the_consumer_instead_of_hanging() {
    // Fields are public, so a dataset can break its own invariant: 4 labels, 1 image.
    let broken = Arc::new(Dataset {
        images: Images::Bytes(vec![0u8; 18].into()),
        shape: [2, 3, 3],
        labels: vec![0, 0, 0, 0].into(),
        classes: vec!["a".into()],
    });
    let opts = LoaderOptions {
        shuffle: false,
        ..options(1, false, 2)
    };
    let l =
        Loader::new(broken, (0..4).collect(), opts, Normalization::identity(2)).expect("loader");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| l.epoch(0).count()));
    assert!(
        result.is_err(),
        "the out-of-range image must panic in the consumer"
    );
}
