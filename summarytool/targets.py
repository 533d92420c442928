"""Turn a TARGET string from the command line into an nn.Module, without eval and without downloads.

TARGET forms:
- ``path/to/file.py:NAME`` and ``package.module:NAME``: NAME (dots allowed, ``Outer.Inner``) is an
  ``nn.Module`` subclass, a factory function returning a module, or a module instance.
- ``...:NAME(args)``: call NAME with literal arguments (``Net(num_classes=10, widths=[8, 16])``); each
  argument is read with ``ast.literal_eval``, so only numbers, strings, tuples, lists, dicts, sets,
  booleans and None are accepted.
- ``torchvision:resnet50(num_classes=10)``: ``torchvision.models.get_model(name, weights=None, ...)``.
- ``timm:vit_base_patch16_224``: ``timm.create_model(name, pretrained=False, ...)``.
- ``hf:path/to/config.json`` (or a folder holding one): transformers ``AutoConfig`` from the local file,
  then the class its ``architectures`` field names (else ``AutoModel``; ``--hf-task`` picks a head),
  random weights, with the Hugging Face hub switched offline.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import importlib
import importlib.util
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

EXAMPLES = (
    "models.py:Net",
    "models.py:Net(num_classes=10)",
    "mypackage.models:build_model",
    "torchvision:resnet50",
    "timm:vit_base_patch16_224",
    "hf:path/to/config.json",
)


class TargetError(ValueError):
    """A TARGET that cannot be turned into a model; `fix` is a one-line suggestion for the user."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.args[0]}\nfix: {self.fix}"


@dataclass
class Target:
    """A parsed TARGET: where the object comes from, its name, and the literal call arguments (if any)."""

    text: str
    source: str
    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    called: bool = False


def _literal(node: ast.expr, source: str, text: str) -> Any:
    """The value of one argument node of `source` (the parsed `_(...)`); errors quote TARGET `text`."""
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        shown = ast.get_source_segment(source, node) or ast.dump(node)
        raise TargetError(
            f"argument {shown!r} in {text!r} is not a literal",
            "only numbers, strings, lists, tuples, dicts, sets, True/False/None are allowed, e.g. Net(num_classes=10)",
        ) from None


def parse_call(text: str, call: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments of `(...)`, each read with ast.literal_eval."""
    source = f"_{call}"  # parsed as a call of a stand-in name: NAME may be dotted (Outer.Inner)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise TargetError(
            f"cannot read the arguments {call!r} of {text!r}",
            "write them like a Python call with literal values, e.g. 'models.py:Net(num_classes=10)' (quote it in the shell)",
        ) from None
    node = tree.body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise TargetError(
            f"{call!r} in {text!r} is not one call's argument list",
            "give NAME(arg, key=value) with literal values, e.g. Net(num_classes=10)",
        )
    args = []
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise TargetError(f"*args in {text!r} is not supported", "spell the arguments out one by one")
        args.append(_literal(arg, source, text))
    kwargs = {}
    for kw in node.keywords:
        if kw.arg is None:
            raise TargetError(f"**kwargs in {text!r} is not supported", "spell the keyword arguments out")
        kwargs[kw.arg] = _literal(kw.value, source, text)
    return tuple(args), kwargs


def parse_target(text: str) -> Target:
    """Split TARGET into source, NAME and literal arguments (nothing is imported yet)."""
    text = text.strip()
    head, paren, rest = text.partition("(")
    call = paren + rest if paren else ""
    if call and not call.rstrip().endswith(")"):
        raise TargetError(f"{text!r} opens '(' but does not close it", "write NAME(args) with a closing ')'")
    source, colon, name = head.rpartition(":")
    if not colon or not source or not name.strip():
        raise TargetError(
            f"{text!r} is not a TARGET",
            "write FILE.py:NAME, package.module:NAME, torchvision:NAME, timm:NAME or hf:CONFIG.json, e.g. models.py:Net",
        )
    source = source.strip()
    name = name.strip()
    if source == "hf":
        if call:
            raise TargetError(
                f"{text!r}: hf: takes a config path, not arguments", "edit the config file instead"
            )
        return Target(text, source, name)
    args, kwargs = parse_call(text, call) if call else ((), {})
    return Target(text, source, name, args, kwargs, bool(call))


# ----- loading -----------------------------------------------------------------------------------

GUARD_FIX = "guard its script code with `if __name__ == '__main__':` so that importing it only defines things"


@contextlib.contextmanager
def _contained(what: str, argv0: str, fix: str = GUARD_FIX) -> Iterator[None]:
    """Run a target's own code (its import, its factory) so that it can neither end nor take over the command.

    sys.argv is [argv0] only while it runs (so an argparse at import parses nothing of ours), and is put
    back afterwards; sys.exit() and any other BaseException but KeyboardInterrupt become a TargetError
    that says `what` did.
    """
    saved = sys.argv
    sys.argv = [argv0]
    try:
        yield
    except SystemExit as exc:
        hint = " (argparse exits so when the command line does not fit it)" if exc.code == 2 else ""
        raise TargetError(f"{what} called sys.exit({exc.code!r}){hint}", fix) from exc
    except (KeyboardInterrupt, Exception):
        raise  # Ctrl-C stops the command; the callers word each exception
    except BaseException as exc:  # GeneratorExit, a library's own BaseException...
        raise TargetError(f"{what} raised {type(exc).__name__}: {exc}", fix) from exc
    finally:
        sys.argv = saved


def _looks_like_file(source: str) -> bool:
    return source.endswith(".py") or os.sep in source or "/" in source


def _load_file(path_text: str, text: str) -> Any:
    path = Path(path_text).expanduser()
    if not path.is_file():
        raise TargetError(
            f"no such file: {path_text!r} (in {text!r})", f"check the path; it is relative to {os.getcwd()}"
        )
    path = path.resolve()
    # The file's own folder is importable, so `from layers import Block` beside it works.
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    module_name = f"summarytool_target_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise TargetError(f"cannot import {path_text!r} as Python", "give a .py file, e.g. models.py:Net")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        with _contained(f"importing {path.name}", str(path)):
            spec.loader.exec_module(module)
    except BaseException as exc:
        sys.modules.pop(module_name, None)
        if not isinstance(exc, Exception) or isinstance(exc, TargetError):
            raise
        raise TargetError(
            f"importing {path_text!r} raised {type(exc).__name__}: {exc}",
            f"run `python {path_text}` to see the full error and fix it",
        ) from exc
    return module


def _import_module(source: str, text: str) -> Any:
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like `python -m`, the current folder is importable
    try:
        with _contained(f"importing {source}", source):
            return importlib.import_module(source)
    except TargetError:
        raise
    except ModuleNotFoundError as exc:
        missing = exc.name or source
        if missing == source or source.startswith(f"{missing}."):
            raise TargetError(
                f"no module named {missing!r} (in {text!r})",
                "check the module path, install the package, or give a file path like path/to/models.py:NAME",
            ) from exc
        raise TargetError(
            f"importing {source!r} needs the missing package {missing!r}",
            f"pip install {missing.split('.')[0]}",
        ) from exc
    except Exception as exc:
        raise TargetError(
            f"importing {source!r} raised {type(exc).__name__}: {exc}",
            f"run `python -c 'import {source}'` to see the full error",
        ) from exc


def _lookup(module: Any, name: str, where: str, text: str) -> Any:
    obj = module
    for part in name.split("."):
        if not part.isidentifier():
            raise TargetError(
                f"{name!r} in {text!r} is not a Python name", "write NAME or Outer.NAME, e.g. Net"
            )
        if not hasattr(obj, part):
            available = sorted(
                k
                for k, v in vars(module).items()
                if not k.startswith("_") and (isinstance(v, nn.Module) or _is_module_class(v))
            )
            hint = (
                f"nn.Module classes and instances there: {', '.join(available[:12])}"
                if available
                else "check the spelling"
            )
            raise TargetError(f"{where} has no {name!r}", hint)
        obj = getattr(obj, part)
    return obj


def _is_module_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, nn.Module)


def _build(obj: Any, target: Target) -> nn.Module:
    """Instantiate a class, call a factory, or take an instance; the result must be an nn.Module."""
    text = target.text
    if isinstance(obj, nn.Module):
        if target.called:
            raise TargetError(
                f"{target.name} in {text!r} is already a model instance; it cannot take arguments",
                f"drop the (...) or point at its class instead: {target.source}:{type(obj).__name__}(...)",
            )
        return obj
    if not callable(obj):
        raise TargetError(
            f"{target.name} in {text!r} is a {type(obj).__name__}, not a model",
            "point at an nn.Module subclass, a function returning one, or a module instance",
        )
    try:
        with _contained(f"{target.name}{_call_text(target)}", target.source):
            model = obj(*target.args, **target.kwargs)
    except TargetError:
        raise
    except TypeError as exc:
        raise TargetError(
            f"{target.name}{_call_text(target)} raised TypeError: {exc}",
            f"give the arguments {target.name} expects, e.g. '{target.source}:{target.name}(...)' (quote it in the shell)",
        ) from exc
    except Exception as exc:
        raise TargetError(
            f"building the model {target.name}{_call_text(target)} raised {type(exc).__name__}: {exc}",
            "fix the model's constructor or its arguments",
        ) from exc
    if not isinstance(model, nn.Module):
        raise TargetError(
            f"{target.name}{_call_text(target)} returned a {type(model).__name__}, not an nn.Module",
            "point at a function or class that returns a torch.nn.Module",
        )
    return model


def _call_text(target: Target) -> str:
    parts = [repr(a) for a in target.args] + [f"{k}={v!r}" for k, v in target.kwargs.items()]
    return f"({', '.join(parts)})"


def _optional(package: str, text: str) -> Any:
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise TargetError(
            f"{text!r} needs the optional package {package!r}, which is not installed",
            f"pip install {package}",
        ) from exc
    except Exception as exc:  # installed but broken, e.g. built for another torch
        raise TargetError(
            f"{package!r} is installed but fails to import: {type(exc).__name__}: {exc}",
            f"install the {package} release that matches your torch (pip install -U {package})",
        ) from exc


def _torchvision(target: Target) -> nn.Module:
    _optional("torchvision", target.text)
    models = importlib.import_module("torchvision.models")
    asked = [k for k in ("weights", "weights_backbone", "pretrained") if k in target.kwargs]
    if asked:
        raise TargetError(
            f"{target.text!r} asks for weights ({asked[0]}=); summarytool never downloads them",
            f"drop {asked[0]}=; the summary of torchvision:{target.name} is the same without them",
        )
    try:
        builder = models.get_model_builder(target.name)
    except ValueError as exc:
        raise TargetError(
            f"torchvision has no model {target.name!r}",
            "list the names with: python -c 'import torchvision; print(torchvision.models.list_models())'",
        ) from exc
    forced: dict[str, Any] = {"weights": None}
    if "weights_backbone" in _parameters(builder):  # (detection, segmentation: ImageNet backbones by default)
        forced["weights_backbone"] = None
    return _build_with(builder, target, **forced)


def _parameters(builder: Any) -> set[str]:
    try:
        return set(inspect.signature(builder).parameters)
    except (TypeError, ValueError):  # (a builtin or an odd callable: pass only weights=None)
        return set()


def _timm(target: Target) -> nn.Module:
    timm = _optional("timm", target.text)
    if "pretrained" in target.kwargs:
        raise TargetError(
            f"{target.text!r} asks for pretrained weights; summarytool never downloads them",
            "drop pretrained=; the summary is the same with random weights",
        )
    known = timm.list_models(target.name)
    if not known:
        raise TargetError(
            f"timm has no model {target.name!r}",
            "list the names with: python -c 'import timm; print(timm.list_models(\"*vit*\"))'",
        )
    return _build_with(lambda *a, **k: timm.create_model(target.name, *a, **k), target, pretrained=False)


def _build_with(builder: Any, target: Target, **forced: Any) -> nn.Module:
    return _library_model(
        lambda: builder(*target.args, **forced, **target.kwargs),
        failed=(
            f"building {target.source}:{target.name}{_call_text(target)} raised",
            "check the model's arguments",
        ),
        not_module=(f"{target.text!r} did not build an nn.Module", "use a model name the library lists"),
    )


def _library_model(
    build: Callable[[], Any], failed: tuple[str, str], not_module: tuple[str, str]
) -> nn.Module:
    """Run a library's model builder so that whatever goes wrong reaches the user as a TargetError with a fix.

    `failed` is the message start and fix for an exception (its type and text are appended);
    `not_module` the message and fix for a result that is not an nn.Module.
    """
    try:
        with _contained(failed[0].removesuffix(" raised").removesuffix(":"), sys.argv[0], failed[1]):
            model = build()
    except TargetError:
        raise
    except Exception as exc:
        raise TargetError(f"{failed[0]} {type(exc).__name__}: {exc}", failed[1]) from exc
    if not isinstance(model, nn.Module):
        raise TargetError(*not_module)
    return model


# --hf-task: which head a Hugging Face config is built with (auto: the config's "architectures").
HF_TASKS: dict[str, str] = {
    "base": "AutoModel",
    "causal-lm": "AutoModelForCausalLM",
    "masked-lm": "AutoModelForMaskedLM",
    "seq2seq-lm": "AutoModelForSeq2SeqLM",
    "sequence-classification": "AutoModelForSequenceClassification",
    "image-classification": "AutoModelForImageClassification",
}


def _hf_builder(transformers: Any, config: Any, task: str, text: str) -> Callable[[], Any]:
    """How to build `config` for `task`: an Auto class, or (auto) the class its architectures names."""
    if task == "auto":
        names = getattr(config, "architectures", None) or []
        cls = getattr(transformers, names[0], None) if names else None
        if cls is not None and hasattr(cls, "_from_config"):
            return lambda: cls._from_config(config)
        return lambda: transformers.AutoModel.from_config(config)
    if task not in HF_TASKS:
        raise TargetError(
            f"--hf-task {task!r} is not one of auto, {', '.join(HF_TASKS)}", "pick one of those heads"
        )
    auto = getattr(transformers, HF_TASKS[task])
    return lambda: auto.from_config(config)


def _hf(target: Target, task: str = "auto") -> nn.Module:
    path = Path(target.name).expanduser()
    if not path.exists():
        raise TargetError(
            f"no such config: {target.name!r} (in {target.text!r})",
            "give a local config.json (or the folder holding it); summarytool never downloads from the hub",
        )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local config, never a download
    transformers = _optional("transformers", target.text)
    config = _hf_config(transformers, path, target.name)
    return _library_model(
        _hf_builder(transformers, config, task, target.text),
        failed=(
            f"transformers could not build a model from {target.name!r}:",
            "check the config (model_type, sizes) against the transformers version installed",
        ),
        not_module=(f"{target.text!r} did not build a torch model", "use a PyTorch model config"),
    )


def _hf_config(transformers: Any, path: Path, name: str) -> Any:
    """The transformers config a folder or a config.json holds, read locally (a file needs its model_type)."""
    if path.is_dir():
        return transformers.AutoConfig.from_pretrained(str(path), local_files_only=True)
    with open(path, encoding="utf-8") as f:
        values = json.load(f)
    model_type = values.pop("model_type", None)
    if not model_type:
        raise TargetError(
            f'{name!r} has no "model_type"',
            'add the model_type (e.g. "bert") to the config, as save_pretrained() writes it',
        )
    return transformers.AutoConfig.for_model(model_type, **values)


def load_target(text: str, on_meta: bool = False, hf_task: str = "auto") -> nn.Module:
    """The nn.Module a TARGET names (see the module docstring); TargetError says what to fix.

    `on_meta` builds it on the meta device (for a dry run or a training-step estimate): its weights
    are never allocated, so a 70B config costs megabytes. `hf_task` picks a Hugging Face head.
    """
    if not on_meta:
        return _load(text, hf_task)
    import torch

    with torch.device("meta"):
        return _load(text, hf_task)


def _load(text: str, hf_task: str) -> nn.Module:
    target = parse_target(text)
    if target.source == "torchvision":
        return _torchvision(target)
    if target.source == "timm":
        return _timm(target)
    if target.source == "hf":
        return _hf(target, hf_task)
    if _looks_like_file(target.source):
        module = _load_file(target.source, text)
        where = target.source
    else:
        module = _import_module(target.source, text)
        where = f"module {target.source!r}"
    return _build(_lookup(module, target.name, where, text), target)
