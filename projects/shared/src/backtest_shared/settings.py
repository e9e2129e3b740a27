"""Typed settings, declared once per deployable; flags, variables, help and docs derive from them.

A deployable declares its settings as a frozen dataclass whose fields are
annotated ``Annotated[type, Setting(help=...)]`` with their default, and a
``SettingsSchema`` gives it an environment prefix. From
that one declaration come:

- the flag, ``--lease-seconds`` for the field ``lease_seconds``;
- the environment variable, the prefix plus the upper-case name
  (``BACKTEST_COMPUTE_LEASE_SECONDS``), except for the few settings every
  deployable shares, which name theirs (``BACKTEST_DATABASE_URL``);
- the help text, which ends with the default taken from the dataclass;
- the Markdown table of the docs (``markdown_table``), which tests compare with the docs.

A value comes from the flag, else the environment variable, else the default.
A renamed variable keeps working for one release: its old name is read when the
new one is unset, with a ``DeprecatedSettingWarning`` naming the new one.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import typing
import warnings
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any
from typing import Generic
from typing import TypeVar

S = TypeVar("S")

#: The ``default_text`` of a setting that has no default.
REQUIRED = "(required)"


class DeprecatedSettingWarning(FutureWarning):
    """An old environment variable name was used; it stops working in the next release."""


def parse_on_off(text: str) -> bool:
    value = text.strip().lower()
    if value in ("on", "true", "1", "yes"):
        return True
    if value in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"expected on or off, got {text!r}")


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


@dataclass(frozen=True)
class Setting:
    """What a settings field means, attached to it with ``Annotated[type, Setting(...)]``.

    ``help`` says what the value means, without its default (that is appended).
    ``default_text`` describes a default computed at start-up (``field(default_factory=...)``).
    ``env`` names a variable shared by every deployable instead of a prefixed one.
    ``name`` is the public name (flag and variable) when it differs from the field's,
    with ``parse``/``show`` converting between the two (e.g. MiB outside, bytes inside).
    ``flag=False`` makes a setting that only the environment sets.
    """

    help: str
    env: str | None = None
    name: str | None = None
    parse: Callable[[str], Any] | None = None
    show: Callable[[Any], str] | None = None
    default_text: str | None = None
    flag: bool = True


@dataclass(frozen=True)
class Option:
    """One setting as the outside world sees it."""

    field: str
    flag: str | None
    env: str
    old_env: str | None
    parse: Callable[[str], Any]
    help: str
    default: str

    @property
    def help_text(self) -> str:
        """The ``--help`` line: meaning, default and variable (``%`` escaped for argparse)."""
        default = self.default if self.default == REQUIRED else f"(default: {self.default})"
        text = f"{self.help} {default} [env {self.env}]"
        return text.replace("%", "%%")


def _parser_for(kind: Any) -> Callable[[str], Any]:
    if kind is bool:
        return parse_on_off
    if kind in (int, float, str):
        return typing.cast(Callable[[str], Any], kind)
    raise TypeError(f"no parser for settings of type {kind!r}: pass parse=")


class SettingsSchema(Generic[S]):
    """How one deployable's settings dataclass meets its flags and environment."""

    def __init__(self, cls: type[S], *, env_prefix: str, renamed: Mapping[str, str] | None = None) -> None:
        """``renamed`` maps a field to the environment variable it was read from until this release."""
        self.cls = cls
        self.env_prefix = env_prefix
        self.renamed = dict(renamed or {})
        hints = typing.get_type_hints(cls, include_extras=True)
        self.options: list[Option] = []
        self._required = {
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        }
        for field in dataclasses.fields(cls):  # type: ignore[arg-type]
            hint = hints[field.name]
            declared = next((m for m in getattr(hint, "__metadata__", ()) if isinstance(m, Setting)), None)
            if declared is None:
                continue
            public = declared.name or field.name
            if field.default is not dataclasses.MISSING:
                default = (declared.show or _show)(field.default) if field.default != "" else ""
            else:
                default = ""
            self.options.append(
                Option(
                    field=field.name,
                    flag="--" + public.replace("_", "-") if declared.flag else None,
                    env=declared.env or env_prefix + public.upper(),
                    old_env=self.renamed.get(field.name),
                    parse=declared.parse or _parser_for(typing.get_args(hint)[0]),
                    help=declared.help,
                    default=declared.default_text or default or "(none)",
                )
            )
        unknown = set(self.renamed) - {option.field for option in self.options}
        if unknown:
            raise ValueError(f"renamed names unknown settings: {sorted(unknown)}")

    def add_arguments(self, parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
        """One flag per setting; unset flags stay ``None`` so the environment and defaults apply."""
        for option in self.options:
            if option.flag is None:
                continue
            if option.parse is parse_on_off:  # a bare --flag turns it on
                parser.add_argument(
                    option.flag,
                    dest=option.field,
                    default=None,
                    nargs="?",
                    const="on",
                    metavar="on|off",
                    help=option.help_text,
                )
            else:
                metavar = option.flag.removeprefix("--").replace("-", "_").upper()
                parser.add_argument(
                    option.flag, dest=option.field, default=None, metavar=metavar, help=option.help_text
                )

    def export_flags(self, flags: argparse.Namespace, environ: MutableMapping[str, str]) -> None:
        """Write the flags given in ``flags`` into ``environ``, for processes that read the environment."""
        for option in self.options:
            given = getattr(flags, option.field, None)
            if given is not None:
                environ[option.env] = str(given)

    def _raw_value(self, option: Option, flags: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
        given = flags.get(option.field)
        if given is not None:
            return given
        raw = environ.get(option.env, "").strip()
        old = environ.get(option.old_env, "").strip() if option.old_env else ""
        if old:
            action = "ignored: it is also set" if raw else "still read for this release"
            warnings.warn(
                f"{option.old_env} is deprecated, use {option.env} ({action})", DeprecatedSettingWarning, stacklevel=4
            )
        return raw or old or None

    def load(
        self,
        flags: argparse.Namespace | Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> S:
        """Settings from ``flags`` (parsed arguments), then ``environ``, then defaults; ``overrides`` win.

        Raises ValueError naming the flag and variable of a value that does not parse,
        or the dataclass's own message for values that parse but are invalid.
        """
        given = vars(flags) if isinstance(flags, argparse.Namespace) else dict(flags or {})
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for option in self.options:
            raw = self._raw_value(option, given, env)
            if raw is None:
                continue
            if not isinstance(raw, str):
                values[option.field] = raw  # already typed (a flag with its own type)
                continue
            try:
                values[option.field] = option.parse(raw)
            except ValueError:
                where = f"{option.flag} / {option.env}" if option.flag else option.env
                raise ValueError(f"{where}: cannot parse {raw!r}") from None
        values.update({name: value for name, value in overrides.items() if value is not None})
        for option in self.options:
            if option.field not in values and option.field in self._required:
                where = f"{option.flag} or {option.env}" if option.flag else option.env
                raise ValueError(f"{option.field.replace('_', ' ')} is required: set {where}")
        return self.cls(**values)

    def markdown_table(self) -> str:
        """The docs' table of these settings (tests compare it with the docs)."""
        lines = ["| Flag | Environment variable | Default | Meaning |", "| --- | --- | --- | --- |"]
        for option in self.options:
            flag = f"`{option.flag}`" if option.flag else "—"
            lines.append(f"| {flag} | `{option.env}` | {option.default} | {option.help} |")
        return "\n".join(lines) + "\n"


def documented_table(markdown: str, name: str) -> str:
    """The table between ``<!-- settings:NAME -->`` and ``<!-- /settings:NAME -->`` in a docs page."""
    start, end = f"<!-- settings:{name} -->\n", f"<!-- /settings:{name} -->"
    if start not in markdown or end not in markdown:
        raise ValueError(f"no settings table marked {name!r}")
    return markdown.split(start, 1)[1].split(end, 1)[0]
