use std::path::PathBuf;

use ronin_spec::{NormalizeSpec, SplitSpec};

use super::*;
use crate::idx::{Compression, write_images, write_labels};

fn spec(source: SourceSpec) -> DataSpec {
    DataSpec {
        source,
        classes: None,
        split: SplitSpec::default(),
        normalize: NormalizeSpec::Computed,
        batch_size: 16,
        shuffle: true,
        drop_last: false,
        workers: 2,
        prefetch: 2,
        limit: None,
        train_limit: None,
        keep_classes: None,
        extra_train: Vec::new(),
    }
}

/// Writes `n` class-ordered 4×4 images (3 classes) with labels; returns the two paths.
fn write_set(dir: &Path, name: &str, n: usize, compression: Compression) -> (String, String) {
    let images = dir.join(format!("{name}-images"));
    let labels = dir.join(format!("{name}-labels"));
    let pixels: Vec<u8> = (0..n * 16).map(|i| (i % 251) as u8).collect();
    let lbls: Vec<u8> = (0..n).map(|i| (i * 3 / n) as u8).collect();
    write_images(&images, &pixels, n, [1, 4, 4], compression).expect("write images");
    write_labels(&labels, &lbls, compression).expect("write labels");
    (images.display().to_string(), labels.display().to_string())
}

#[test]
fn single_source_is_split_limited_and_normalised() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    let (images, labels) = write_set(dir.path(), "all", 300, Compression::Gzip);
    let mut s = spec(SourceSpec::Idx { images, labels });
    s.split = SplitSpec {
        validation: 0.2,
        test: 0.1,
        stratified: true,
    };
    let b = build(&s, 1)?;
    assert_eq!(b.classes, ["0", "1", "2"]);
    assert_eq!(b.shape(), [1, 4, 4]);
    assert!(Arc::ptr_eq(&b.train, &b.test));
    assert_eq!(
        (
            b.splits.train.len(),
            b.splits.validation.len(),
            b.splits.test.len()
        ),
        (210, 60, 30)
    );
    assert_eq!(
        b.normalization,
        Normalization::compute(&b.train, &b.splits.train)?
    );
    // Stratified: each class keeps its share (100 of each) in every split.
    assert_eq!(b.class_counts(Part::Train), [70, 70, 70]);
    assert_eq!(b.class_counts(Part::Validation), [20, 20, 20]);
    assert_eq!(b.class_counts(Part::Test), [10, 10, 10]);

    s.limit = Some(25);
    let limited = build(&s, 1)?;
    assert_eq!(limited.splits.train, b.splits.train[..25]);
    assert_eq!(limited.splits.test.len(), 25);
    assert_eq!(
        limited.normalization,
        Normalization::compute(&b.train, &b.splits.train[..25])?
    );

    let train = limited.loader(Part::Train, &s, &[], 1)?;
    assert_eq!(train.len(), 2);
    assert!(train.options().shuffle);
    let val = limited.loader(Part::Validation, &s, &[], 1)?;
    let order: Vec<usize> = val
        .epoch(0)
        .flat_map(|x| x.expect("an in-memory batch").indices)
        .collect();
    assert_eq!(order, limited.splits.validation);
    Ok(())
}

#[test]
fn train_test_source_uses_the_test_files() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    let (train_images, train_labels) = write_set(dir.path(), "train", 200, Compression::None);
    let (test_images, test_labels) = write_set(dir.path(), "test", 50, Compression::Gzip);
    fs_err::write(dir.path().join("classes.txt"), "a\nb\nc\n")?;
    let source = SourceSpec::IdxTrainTest {
        train_images,
        train_labels,
        test_images,
        test_labels,
    };
    let mut s = spec(source);
    s.normalize = NormalizeSpec::Given {
        mean: vec![0.5],
        std: vec![0.25],
    };
    let b = build(&s, 3)?;
    assert_eq!(b.classes, ["a", "b", "c"]);
    assert_eq!(b.test.len(), 50);
    assert_eq!(b.splits.test, (0..50).collect::<Vec<_>>());
    assert_eq!((b.splits.train.len(), b.splits.validation.len()), (180, 20));
    assert_eq!(b.normalization.std, [0.25]);
    let test = b.loader(Part::Test, &s, &[], 3)?;
    assert_eq!(
        test.epoch(0)
            .map(|x| x.expect("an in-memory batch").len())
            .sum::<usize>(),
        50
    );

    s.split.test = 0.1;
    assert!(matches!(
        build(&s, 3),
        Err(DataError::TestFractionWithTestFiles { .. })
    ));
    Ok(())
}

/// Writes `n` CIFAR-10 records with labels `i % 10` (pixels `i`) into `name`.
fn write_cifar(dir: &Path, name: &str, n: usize) -> String {
    let path = dir.join(name);
    let labels: Vec<Vec<u8>> = (0..n).map(|i| vec![(i % 10) as u8]).collect();
    let pixels: Vec<u8> = (0..n).flat_map(|i| [i as u8; 3072]).collect();
    crate::cifar::write(&path, &labels, &pixels).expect("write CIFAR");
    path.display().to_string()
}

#[test]
fn cifar10_train_batches_and_a_test_batch() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    let train = vec![
        write_cifar(dir.path(), "data_batch_1.bin", 60),
        write_cifar(dir.path(), "data_batch_2.bin", 40),
    ];
    let test = vec![write_cifar(dir.path(), "test_batch.bin", 20)];
    let mut s = spec(SourceSpec::Cifar10 {
        train: train.clone(),
        test,
    });
    let b = build(&s, 5)?;
    assert_eq!(b.shape(), [3, 32, 32]);
    assert_eq!(
        b.classes,
        ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    );
    assert_eq!(
        (
            b.splits.train.len(),
            b.splits.validation.len(),
            b.splits.test.len()
        ),
        (90, 10, 20)
    );
    assert_eq!(b.class_counts(Part::Validation), [1; 10]);
    assert_eq!(b.class_counts(Part::Test), [2; 10]);
    // Example 61 is record 1 of the second file.
    assert_eq!(b.train.image(61)?.map(|i| i[0]), Some(1));
    assert_eq!(b.train.labels[61], 1);

    fs_err::write(
        dir.path().join("batches.meta.txt"),
        "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n",
    )?;
    s.source = SourceSpec::Cifar10 {
        train,
        test: Vec::new(),
    };
    s.split.test = 0.2;
    let b = build(&s, 5)?;
    assert_eq!(b.classes[9], "truck");
    assert!(Arc::ptr_eq(&b.train, &b.test));
    assert_eq!(b.splits.test.len(), 20);
    Ok(())
}

#[test]
fn cifar100_fine_or_coarse_and_a_truncated_file() -> Result<(), DataError> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("train.bin");
    let labels: Vec<Vec<u8>> = (0..40)
        .map(|i| vec![(i % 20) as u8, (i % 100) as u8])
        .collect();
    crate::cifar::write(&path, &labels, &vec![0; 40 * 3072])?;
    let train = vec![path.display().to_string()];
    let mut s = spec(SourceSpec::Cifar100 {
        train: train.clone(),
        test: Vec::new(),
        coarse: false,
    });
    s.split.stratified = false;
    assert_eq!(build(&s, 1)?.classes.len(), 100);
    fs_err::write(
        dir.path().join("coarse_label_names.txt"),
        "aquatic_mammals\nfish\n",
    )?;
    s.source = SourceSpec::Cifar100 {
        train,
        test: Vec::new(),
        coarse: true,
    };
    // Two coarse names for 20 coarse labels: the names file is at fault.
    let msg = build(&s, 1).expect_err("label 2 of 2 names").to_string();
    assert!(msg.contains("coarse_label_names.txt"), "{msg}");

    let mut bytes = fs_err::read(&path)?;
    bytes.truncate(bytes.len() - 100);
    fs_err::write(&path, bytes)?;
    let msg = build(&s, 1).expect_err("truncated").to_string();
    assert!(
        msg.contains(&format!(
            "{}: 122860 bytes are not a whole number of CIFAR-100 records of 3074 bytes",
            path.display()
        )),
        "{msg}"
    );
    Ok(())
}

#[test]
fn missing_file_is_named() {
    let s = spec(SourceSpec::Idx {
        images: "/nonexistent/imgs".into(),
        labels: "/nonexistent/lbls".into(),
    });
    let msg = build(&s, 0).expect_err("no such file").to_string();
    assert!(msg.contains("/nonexistent/imgs"), "{msg}");
}

fn real(dir: &str) -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.ronin/data")
        .join(dir);
    if path.is_dir() {
        Some(path)
    } else {
        eprintln!(
            "skipped: {} is not there (the set-up script writes it)",
            path.display()
        );
        None
    }
}

#[test]
fn real_mnist_loads_and_splits() -> Result<(), DataError> {
    let Some(dir) = real("mnist") else {
        return Ok(());
    };
    let images = dir.join("images-idx3-ubyte");
    let ds = Dataset::from_idx(&images, &dir.join("labels-idx1-ubyte"), None)?;
    assert_eq!((ds.len(), ds.shape), (10_000, [1, 28, 28]));
    assert_eq!(ds.classes.len(), 10);
    let counts = ds.class_counts();
    assert_eq!(counts.iter().sum::<usize>(), 10_000);
    assert!(counts.iter().all(|&c| c > 800), "{counts:?}");

    let s = spec(SourceSpec::Idx {
        images: images.display().to_string(),
        labels: dir.join("labels-idx1-ubyte").display().to_string(),
    });
    let b = build(&s, 42)?;
    assert_eq!(
        (b.splits.train.len(), b.splits.validation.len()),
        (9_000, 1_000)
    );
    // MNIST's well-known statistics are mean 0.1307, std 0.3081.
    assert!(
        (b.normalization.mean[0] - 0.13).abs() < 0.01,
        "{:?}",
        b.normalization
    );
    assert!(
        (b.normalization.std[0] - 0.31).abs() < 0.01,
        "{:?}",
        b.normalization
    );
    let first = b
        .loader(Part::Train, &s, &[], 42)?
        .epoch(0)
        .next()
        .transpose()?;
    assert_eq!(
        first.map(|x| x.images.shape().to_vec()),
        Some(vec![16, 1, 28, 28])
    );
    Ok(())
}

#[test]
fn real_fashion_mnist_train_test() -> Result<(), DataError> {
    let Some(dir) = real("fashion_mnist") else {
        return Ok(());
    };
    let p = |f: &str| dir.join(f).display().to_string();
    let s = spec(SourceSpec::IdxTrainTest {
        train_images: p("train-images-idx3-ubyte"),
        train_labels: p("train-labels-idx1-ubyte"),
        test_images: p("t10k-images-idx3-ubyte"),
        test_labels: p("t10k-labels-idx1-ubyte"),
    });
    let b = build(&s, 42)?;
    assert_eq!(
        (b.train.len(), b.test.len(), b.classes.len()),
        (60_000, 10_000, 10)
    );
    assert_eq!(
        (b.splits.train.len(), b.splits.validation.len()),
        (54_000, 6_000)
    );
    assert_eq!(b.test.class_counts().iter().sum::<usize>(), 10_000);
    Ok(())
}
