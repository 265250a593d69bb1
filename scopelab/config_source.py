"""Where a CONFIG argument points: an existing file, ./configs/NAME.yaml, or a config built into the package.

The built-in configs (scopelab/configs/*.yaml) ship in the wheel, so `scopelab run tied_ae` works from
any directory; so do the configs a plugin family ships (its CONFIGS directory), looked for only when a name
is none of scopelab's own. A run records which one it used: the path as given, or `builtin:NAME`.
"""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

from scopelab import plugins
from scopelab.errors import InputError
from scopelab.runs.directory import write_atomically

BUILTIN_DIR = Path(__file__).resolve().parent / "configs"
BUILTIN_PREFIX = "builtin:"
LOCAL_DIR = Path("configs")


def builtin_names() -> list[str]:
    """scopelab's own built-in configs (plugin_configs: the plugins' ones)."""
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.yaml"))


def builtin_path(name: str) -> Path | None:
    """The built-in config of that name (scopelab's, else a plugin's), or None. Only plain names: never a
    path out of a package."""
    if "/" in name or "\\" in name:
        return None
    path = BUILTIN_DIR / f"{name}.yaml"
    return path if path.is_file() else plugin_configs()[0].get(name)


def plugin_configs() -> tuple[dict[str, Path], list[plugins.PluginError]]:
    """The configs the installed plugins ship, by name (scopelab's own names win), and the faults of the
    plugins that could not be loaded."""
    families, faults = plugins.plugin_families()
    own = set(builtin_names())
    shipped = {name: family.configs / f"{name}.yaml" for family in families for name in family.config_names()}
    return {name: path for name, path in shipped.items() if name not in own}, faults


def resolve_config(reference: str | Path, configs_dir: Path = LOCAL_DIR) -> Path:
    """An existing file path; else configs_dir/NAME.yaml; else the built-in NAME (`builtin:NAME` also works)."""
    text = str(reference)
    if text.startswith(BUILTIN_PREFIX):
        name = text.removeprefix(BUILTIN_PREFIX)
        path = builtin_path(name)
        if path is None:
            raise InputError(f"'{text}': there is no built-in config '{name}'{suggest_builtin(name)}.")
        return path
    path = Path(text)
    if path.exists():
        return path  # load_config says what is wrong with a directory or a bad file
    local = configs_dir / f"{text}.yaml"
    if local.is_file():
        return local
    builtin = builtin_path(text)
    if builtin is not None:
        return builtin
    if path.suffix in (".yaml", ".yml") or "/" in text:
        raise InputError(f"{text}: no such config file.")
    raise InputError(
        f"'{text}' is not a config file, {local} does not exist, and there is no built-in config '{text}'"
        f"{suggest_builtin(text)}; `scopelab list --configs` shows them."
    )


def source_label(path: Path) -> str:
    """What a run records as its config: `builtin:NAME` for a built-in (scopelab's or a plugin's), else the
    path as given. A plugin's config path comes from builtin_path, so its family is loaded by then."""
    shipped = {BUILTIN_DIR, *(family.configs for family in plugins.loaded() if family.configs)}
    if path.is_absolute() and path.parent in shipped:
        return BUILTIN_PREFIX + path.stem
    return str(path)


def suggest_builtin(name: str) -> str:
    """' (did you mean 'tied_ae'?)' for a near miss of a built-in name (a plugin's too), else ''; and the
    first plugin that could not be loaded, since the config may be one of its."""
    shipped, faults = plugin_configs()
    close = difflib.get_close_matches(name, [*builtin_names(), *shipped], n=1)
    suggestion = f" (did you mean '{close[0]}'?)" if close else ""
    return suggestion + (f" ({faults[0]})" if faults else "")


def copy_builtin(name: str, dest: Path | None, force: bool) -> Path:
    """Write the built-in config as shipped (comments and all) to dest (default ./configs/NAME.yaml)."""
    source = builtin_path(name.removeprefix(BUILTIN_PREFIX))
    if source is None:
        raise InputError(f"'{name}' is not a built-in config{suggest_builtin(name)}; the built-in ones: "
                         f"{', '.join([*builtin_names(), *plugin_configs()[0]])}.")
    target = dest if dest is not None else LOCAL_DIR / source.name
    if target.is_dir():
        target = target / source.name
    # Only a regular file is ever written: opening a symlink would write where it points (outside configs/),
    # opening a FIFO would wait for a reader forever. The write goes through a rename, which never follows.
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        what = "a symlink" if stat.S_ISLNK(mode) else "not a regular file"
        raise InputError(f"{target} is {what}; the config is written only as a regular file: remove it first.")
    if mode is not None and not force:
        raise InputError(f"{target} exists; pass --force to overwrite it.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, source.read_text(encoding="utf-8"))
    except OSError as error:
        raise InputError(f"{target}: cannot write the config ({error.strerror}).") from None
    return target
