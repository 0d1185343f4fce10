import os
BASE = '''// A malformed-pipeline case: {title}
(
    epochs: 2,
    data: (
        source: Idx(
            images: ".ronin/data/mnist/images-idx3-ubyte",
            labels: ".ronin/data/mnist/labels-idx1-ubyte",
        ),
        split: (validation: 0.1, test: 0.1),
        batch_size: 32,
    ),
    augment: [RandomAffine(degrees: 10)],
    model: (
        layers: [
            Conv2d(filters: 8, kernel_size: 3, padding: Same),
            ReLU,
            MaxPool2d(kernel_size: 2),
            Flatten,
            Linear(units: 10),
        ],
    ),
    optimizer: Adam(lr: 0.001),
    callbacks: [EarlyStopping(monitor: "val_loss", patience: 3)],
)
'''
cases = [
  # syntax
  ("missing-closing-paren", lambda s: s.rstrip().rstrip(")")),
  ("unclosed-string", lambda s: s.replace('"val_loss"', '"val_loss')),
  ("missing-comma", lambda s: s.replace("epochs: 2,", "epochs: 2")),
  ("garbage-after-pipeline", lambda s: s + "extra\n"),
  ("empty-file", lambda s: ""),
  ("list-instead-of-struct", lambda s: "[1, 2, 3]\n"),
  # unknown names
  ("typo-top-level-field", lambda s: s.replace("epochs: 2,", "epochz: 2,")),
  ("typo-data-field", lambda s: s.replace("batch_size: 32", "batchsize: 32")),
  ("typo-layer-name", lambda s: s.replace("MaxPool2d(", "MaxPool(")),
  ("typo-layer-field", lambda s: s.replace("kernel_size: 3, padding", "kernel: 3, padding")),
  ("wrong-case-optimizer", lambda s: s.replace("Adam(lr", "ADAM(lr")),
  ("unknown-callback", lambda s: s.replace("EarlyStopping(", "EarlyStop(")),
  ("unknown-augmentation", lambda s: s.replace("RandomAffine(", "RandomWarp(")),
  # types and missing fields
  ("string-for-number", lambda s: s.replace("epochs: 2,", 'epochs: "2",')),
  ("negative-integer", lambda s: s.replace("batch_size: 32", "batch_size: -32")),
  ("missing-epochs", lambda s: s.replace("    epochs: 2,\n", "")),
  ("missing-optimizer", lambda s: s.replace("    optimizer: Adam(lr: 0.001),\n", "")),
  ("missing-units", lambda s: s.replace("Linear(units: 10)", "Linear()")),
  # values
  ("zero-epochs", lambda s: s.replace("epochs: 2,", "epochs: 0,")),
  ("zero-batch-size", lambda s: s.replace("batch_size: 32", "batch_size: 0")),
  ("split-leaves-nothing", lambda s: s.replace("validation: 0.1, test: 0.1", "validation: 0.6, test: 0.5")),
  ("negative-learning-rate", lambda s: s.replace("lr: 0.001", "lr: -0.001")),
  ("dropout-rate-one", lambda s: s.replace("Flatten,", "Flatten,\n            Dropout(rate: 1.0),")),
  ("zero-filters", lambda s: s.replace("filters: 8", "filters: 0")),
  ("unknown-monitor", lambda s: s.replace('"val_loss"', '"val_los"')),
  ("augment-probability-above-one", lambda s: s.replace("RandomAffine(degrees: 10)", "RandomAffine(degrees: 10, p: 1.5)")),
  # shapes
  ("linear-before-flatten", lambda s: s.replace("            Flatten,\n", "")),
  ("kernel-larger-than-input", lambda s: s.replace("kernel_size: 3, padding: Same", "kernel_size: 40")),
  ("groups-do-not-divide", lambda s: s.replace("padding: Same)", "padding: Same, groups: 3)")),
  ("wrong-number-of-classes", lambda s: s.replace("Linear(units: 10)", "Linear(units: 7)")),
  ("residual-shape-mismatch", lambda s: s.replace("            ReLU,\n", "            Residual(layers: [Conv2d(filters: 16, kernel_size: 1)]),\n", 1)),
  ("parallel-size-mismatch", lambda s: s.replace("            ReLU,\n", "            Parallel(branches: [Conv2d(filters: 4, kernel_size: 1), MaxPool2d(kernel_size: 2)]),\n", 1)),
  ("preset-and-layers", lambda s: s.replace("        layers: [", "        preset: (model: ResNet18),\n        layers: [")),
  ("preset-too-big-for-input", lambda s: s.replace("        layers: [\n            Conv2d(filters: 8, kernel_size: 3, padding: Same),\n            ReLU,\n            MaxPool2d(kernel_size: 2),\n            Flatten,\n            Linear(units: 10),\n        ],", "        preset: (model: VGG16),")),
  ("preset-batch-norm-not-vgg", lambda s: s.replace("        layers: [\n            Conv2d(filters: 8, kernel_size: 3, padding: Same),\n            ReLU,\n            MaxPool2d(kernel_size: 2),\n            Flatten,\n            Linear(units: 10),\n        ],", "        preset: (model: ResNet18, batch_norm: true),")),
  # data and transfer
  ("missing-data-file", lambda s: s.replace("images-idx3-ubyte", "images-idx3-ubyte.missing")),
  ("keep-classes-out-of-range", lambda s: s.replace("batch_size: 32,", "batch_size: 32,\n        keep_classes: [3, 12],")),
  ("freeze-unknown-layer", lambda s: s.replace("            Linear(units: 10),\n        ],", '            Linear(units: 10),\n        ],\n        freeze: Until("layers.42"),')),
  ("cache-features-with-augment", lambda s: s.replace("            Linear(units: 10),\n        ],", '            Linear(units: 10),\n        ],\n        freeze: AllButHead,\n        cache_features: true,')),
  ("weights-file-missing", lambda s: s.replace("            Linear(units: 10),\n        ],", '            Linear(units: 10),\n        ],\n        weights: (file: "no/such/weights.safetensors"),')),
  ("unfreeze-without-freeze", lambda s: s.replace("            Linear(units: 10),\n        ],", '            Linear(units: 10),\n        ],\n        unfreeze_after_epochs: 1,')),
  ("export-opset-too-old", lambda s: s.replace("    optimizer: Adam(lr: 0.001),", "    optimizer: Adam(lr: 0.001),\n    export: (opset: 9),")),
  ("extends-missing-file", lambda s: s.replace("(\n    epochs: 2,", '(\n    extends: "no_such_base.ron",\n    epochs: 2,', 1)),
  ("several-errors-at-once", lambda s: s.replace("epochs: 2,", "epochs: 0,").replace("batch_size: 32", "batch_size: 0").replace("lr: 0.001", "lr: -1.0")),
  # mix (MixUp/CutMix)
  ("mix-alpha-negative", lambda s: s.replace("    optimizer: Adam(lr: 0.001),", "    optimizer: Adam(lr: 0.001),\n    mix: (mixup_alpha: -0.2, prob: 1.5),")),
  ("mix-with-mse-loss", lambda s: s.replace("    optimizer: Adam(lr: 0.001),", "    loss: Mse(),\n    optimizer: Adam(lr: 0.001),\n    mix: (mixup_alpha: 0.2),")),
]
out = "tests/fixtures/malformed"
for f in os.listdir(out):
    os.remove(os.path.join(out, f))
for i, (name, mutate) in enumerate(cases, 1):
    text = mutate(BASE.format(title=name.replace("-", " ")))
    assert name in ("empty-file", "list-instead-of-struct") or text != BASE.format(title=name.replace("-", " ")), name
    open(f"{out}/{i:02d}-{name}.ron", "w").write(text)
print(len(cases))
