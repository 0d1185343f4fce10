"""Writes torchvision's state_dict keys and shapes of the zoo's models to tests/fixtures/.

The Rust test `ronin_spec::zoo::tests::names_and_shapes_equal_torchvision_fixtures` compares
them with the presets' parameters, so a preset loads torchvision weights by name. Run it
(once, when a preset changes) with a Python that has torch and torchvision:

    python tests/python/torchvision_keys.py tests/fixtures/torchvision_keys.json
"""

import json
import sys

import torchvision.models as tvm

MODELS = {
    "AlexNet": tvm.alexnet,
    "VGG11": tvm.vgg11,
    "VGG11_BN": tvm.vgg11_bn,
    "VGG13": tvm.vgg13,
    "VGG16": tvm.vgg16,
    "VGG16_BN": tvm.vgg16_bn,
    "VGG19": tvm.vgg19,
    "ResNet18": tvm.resnet18,
    "ResNet34": tvm.resnet34,
    "ResNet50": tvm.resnet50,
    "GoogLeNet": lambda: tvm.googlenet(aux_logits=False, init_weights=False),
}

out = {}
for name, build in MODELS.items():
    model = build()
    out[name] = [
        [key, list(t.shape)]
        for key, t in model.state_dict().items()
        if not key.endswith("num_batches_tracked")
    ]
with open(sys.argv[1], "w") as f:
    json.dump(out, f, indent=0)
print(f"{sys.argv[1]}: {', '.join(f'{k} {len(v)} tensors' for k, v in out.items())}")
