use super::super::{CropSize, FillMode, Padding, PaddingMode, TransformSpec};
use super::{check_augment, check_augment_shape};

fn parse(text: &str) -> Vec<TransformSpec> {
    // As pipelines are read: `size: 32` stands for `Some(32)`.
    ron::Options::default()
        .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
        .from_str(text)
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

#[test]
fn parses_defaults_and_keras_aliases() {
    let list = parse(
        "[RandomRotation(rotation_range: 15), HorizontalFlip(), \
         RandomAffine(translate: (0.1, 0.2), shear_range: 5, fill_mode: Reflect, cval: 0.5), \
         RandomErasing(), GaussianNoise(stddev: 0.1, p: 0.3)]",
    );
    assert_eq!(
        list[0],
        TransformSpec::RandomRotation {
            degrees: 15.0,
            fill_mode: FillMode::Constant,
            fill_value: 0.0,
            p: 1.0
        }
    );
    assert_eq!(list[1], TransformSpec::HorizontalFlip { p: 0.5 });
    assert_eq!(
        list[2],
        TransformSpec::RandomAffine {
            degrees: 0.0,
            translate: (0.1, 0.2),
            scale: (1.0, 1.0),
            shear: 5.0,
            fill_mode: FillMode::Reflect,
            fill_value: 0.5,
            p: 1.0
        }
    );
    assert_eq!(
        list[3],
        TransformSpec::RandomErasing {
            p: 0.5,
            scale: (0.02, 0.33),
            ratio: (0.3, 3.3),
            value: 0.0
        }
    );
    assert_eq!(list[4], TransformSpec::GaussianNoise { std: 0.1, p: 0.3 });
    // The rotation fills with Constant 0 and the affine with Reflect 0.5: one map, one fill.
    let errors = check_augment(&list);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].0, "augment[2].fill_mode");
    assert!(check_augment(&list[..2]).is_empty());
    assert!(ron::from_str::<Vec<TransformSpec>>("[HorizontalFlip(q: 1)]").is_err());
}

#[test]
fn every_bad_value_is_reported_with_its_path() {
    let list = parse(
        "[Brightness(max_delta: 0.1), RandomRotation(degrees: 200, p: 1.5), \
         RandomAffine(scale: (1.2, 0.8), translate: (2, 0), shear: 90, fill_mode: Wrap), \
         Contrast(lower: 1.5, upper: 0.5), GaussianNoise(std: -1), \
         RandomErasing(scale: (0, 0.5), ratio: (3, 1), value: 2)]",
    );
    let errors = check_augment(&list);
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "augment[1].p",
            "augment[1].degrees",
            "augment[2].translate",
            "augment[2].scale",
            "augment[2].shear",
            "augment[2].fill_mode",
            "augment[3].lower",
            "augment[4].std",
            "augment[5].scale",
            "augment[5].ratio",
            "augment[5].value",
        ]
    );
    assert!(
        errors[1]
            .1
            .contains("RandomRotation: degrees must be an angle in [0, 180], found 200")
    );
    assert!(
        errors[5].1.contains("differs from augment[1]"),
        "{}",
        errors[5].1
    );
}

#[test]
fn parses_the_torchvision_transforms_with_their_defaults() {
    let list = parse(
        "[ColorJitter(brightness: 0.4, hue: 0.1), ElasticTransform(fill: 0.5), \
         RandomCrop(size: 32, padding: 4, padding_mode: Reflect), RandomResizedCrop(), \
         RandomCrop(size: (28, 30), padding: (1, 2), padding_mode: Replicate, fill_value: 0.5)]",
    );
    assert_eq!(
        list[0],
        TransformSpec::ColorJitter {
            brightness: 0.4,
            contrast: 0.0,
            saturation: 0.0,
            hue: 0.1,
            p: 1.0
        }
    );
    assert_eq!(
        list[1],
        TransformSpec::ElasticTransform {
            alpha: 50.0,
            sigma: 5.0,
            fill_mode: FillMode::Constant,
            fill_value: 0.5,
            p: 1.0
        }
    );
    assert_eq!(
        list[2],
        TransformSpec::RandomCrop {
            size: Some(CropSize {
                height: 32,
                width: 32
            }),
            padding: Padding {
                left: 4,
                top: 4,
                right: 4,
                bottom: 4
            },
            padding_mode: PaddingMode::Reflect,
            fill: 0.0,
            p: 1.0
        }
    );
    assert_eq!(
        list[3],
        TransformSpec::RandomResizedCrop {
            size: None,
            scale: (0.08, 1.0),
            ratio: (0.75, 4.0 / 3.0),
            p: 1.0
        }
    );
    let TransformSpec::RandomCrop {
        size,
        padding,
        padding_mode,
        fill,
        ..
    } = list[4]
    else {
        panic!("{:?}", list[4]);
    };
    assert_eq!(size.map(|s| (s.height, s.width)), Some((28, 30)));
    assert_eq!((padding.left, padding.top), (1, 2));
    assert_eq!((padding_mode, fill), (PaddingMode::Edge, 0.5));
    // torchvision's reflect is the mirror without the edge pixel; its symmetric is Keras'.
    assert_eq!(PaddingMode::Reflect.fill_mode(), FillMode::Mirror);
    assert_eq!(PaddingMode::Symmetric.fill_mode(), FillMode::Reflect);
    // The pipeline text goes back to the same list.
    let text = ron::to_string(&list).expect("serialises");
    assert_eq!(parse(&text), list);
}

#[test]
fn bad_values_of_the_torchvision_transforms_are_reported() {
    let list = parse(
        "[ColorJitter(brightness: -0.1, saturation: inf, hue: 0.6), \
         ElasticTransform(alpha: -1, sigma: 2000), ElasticTransform(), \
         RandomResizedCrop(scale: (0.5, 1.5), ratio: (0, 1)), \
         RandomCrop(padding: 4, padding_mode: Symmetric, fill: 2)]",
    );
    let errors = check_augment(&list);
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "augment[0].brightness",
            "augment[0].saturation",
            "augment[0].hue",
            "augment[1].alpha",
            "augment[1].sigma",
            "augment[2]",
            "augment[3].scale",
            "augment[3].ratio",
            "augment[4].fill",
            "augment[4].padding_mode",
        ],
        "{errors:#?}"
    );
    assert!(errors[2].1.contains("ColorJitter: hue must be in [0, 0.5]"));
    assert!(
        errors[5]
            .1
            .contains("augment[1] is an ElasticTransform already")
    );
    let fill = &errors[9].1;
    assert!(
        fill.contains("padding_mode Symmetric (fill_mode Reflect) with fill 2")
            && fill.contains("augment[1] (fill_mode Constant, fill_value 0)"),
        "{fill}"
    );
    // RandomResizedCrop never reads outside the image, so it has no fill to share.
    let ok = parse(
        "[RandomResizedCrop(), RandomCrop(padding: 2, padding_mode: Edge), \
         RandomRotation(degrees: 5, fill_mode: Nearest)]",
    );
    assert!(check_augment(&ok).is_empty(), "{:?}", check_augment(&ok));
}

#[test]
fn the_shape_check_refuses_other_sizes_and_colour_on_grey_images() {
    let list = parse(
        "[RandomCrop(size: 24, padding: 4), RandomResizedCrop(size: (28, 28)), \
         ColorJitter(brightness: 0.2, contrast: 0.2, saturation: 0.3, hue: 0.1), \
         RandomCrop(size: (28, 28))]",
    );
    let errors = check_augment_shape(&list, [1, 28, 28]);
    let paths: Vec<&str> = errors.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        ["augment[0].size", "augment[2].saturation", "augment[2].hue"]
    );
    assert!(
        errors[0]
            .1
            .contains("RandomCrop: size (24, 24) differs from the images' (28, 28)"),
        "{}",
        errors[0].1
    );
    assert!(
        errors[1]
            .1
            .contains("saturation needs RGB images (3 channels) but these have 1")
    );
    assert!(check_augment_shape(&list[1..], [3, 28, 28]).is_empty());
    let four = check_augment_shape(&list[2..3], [4, 28, 28]);
    assert_eq!(four.len(), 3, "{four:?}");
    assert_eq!(four[2].0, "augment[0].contrast");
}
