"""torchinfo's module path for LayerInfo (`from torchinfo.layer_info import LayerInfo`)."""

from summarytool.records import LayerInfo

__all__ = ["LayerInfo"]
