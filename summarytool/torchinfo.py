"""torchinfo's module path for summary() (`from torchinfo.torchinfo import summary`)."""

from summarytool.api import clear_cached_forward_pass, summary

__all__ = ["clear_cached_forward_pass", "summary"]
