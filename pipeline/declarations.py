"""Settings declared once.

Each setting of a job (a generation run, an iterative zero-shot run, a flow,
an audit) is declared once, as a :class:`Setting` of a :class:`Settings`
declaration: its name, kind, default, limits, choices, help and when it
applies. The ``autolabel`` options (:meth:`Settings.add_arguments`), the
operators' inputs (:meth:`Settings.add_inputs`) and the panel's forms
(:meth:`Settings.form`) are made from the declaration, and every caller's
values are checked by it (:meth:`Settings.check`); what a check needs
beyond one setting (does the model do this task?) stays with the job's own
validation, which the form reports as the form's error.

Choices that depend on other settings or on the dataset (the models of a
task, the Detections fields of a dataset) are functions of the values given
so far and a context (``{"dataset": ...}``), so the CLI, the operators and
the panel offer the same ones.

Why it is long: one declaration makes three interfaces (argparse options,
FiftyOne operator inputs, the panel's form) and checks values for all of
them, with the one-line errors each kind of value needs.
"""

import argparse
import copy

from .errors import AutolabelError

CHOICE = "choice"
TEXT = "text"
NUMBER = "number"
INTEGER = "integer"
LIST = "list"
FLAG = "flag"

KINDS = (CHOICE, TEXT, NUMBER, INTEGER, LIST, FLAG)


class Choice(object):
    """One choice of a setting.

    Args:
        value: the value
        label (None): what a person reads (default: the value)
        description (None): a longer description
    """

    def __init__(self, value, label=None, description=None):
        self.value = value
        self.label = label if label is not None else str(value)
        self.description = description

    def to_dict(self):
        return {
            "value": self.value,
            "label": self.label,
            "description": self.description,
        }


class Setting(object):
    """One setting of a job.

    Args:
        name: the name, as Python and the operators take it (the CLI's
            option is ``--`` and the name with ``-`` for ``_``)
        kind: one of :data:`KINDS`
        label: what the panel and the operator form call it
        help: one sentence for ``--help`` and the form's description
        default (None): the value when none is given
        default_help (None): how ``--help`` says the default, where the
            value alone would not (e.g. "the model's own")
        required (False): whether a value must be given
        choices (None): the allowed values: a sequence of values,
            ``(value, label)`` pairs or :class:`Choice`, or a function
            ``choices(values, context)`` returning one
        minimum (None): the smallest number allowed
        maximum (None): the largest number allowed
        applies (None): a function ``applies(values)``: whether the setting
            applies given the other values (default: always)
        group (None): the heading the setting is shown under
        metavar (None): the CLI's placeholder for the value
        cli (True): whether the CLI has an option for it
        noun (None): how one-line errors name the setting (default: its
            name), e.g. "sample size"
        check (None): a function ``check(value, values, context)`` raising
            :class:`AutolabelError`: a rule of the value beyond its kind,
            with the job's own message; run after the kind's conversion,
            before the limits and the choices. ``values`` and ``context``
            may be empty (the CLI's option types check one value alone):
            it checks only what they hold
        aliases (None): other values accepted for a choice,
            ``{alias: value}``
        visible (None): a function ``visible(values)``: whether the form
            shows the setting (default: where it applies); a hidden
            setting's value is not the form's
        offered (None): a function ``offered(context)``: whether the form
            offers the setting for what the context names, e.g. only where
            a dataset has videos (default: always; a form without context
            offers every setting)
    """

    def __init__(
        self,
        name,
        kind,
        label,
        help,
        default=None,
        default_help=None,
        required=False,
        choices=None,
        minimum=None,
        maximum=None,
        applies=None,
        group=None,
        metavar=None,
        cli=True,
        noun=None,
        check=None,
        aliases=None,
        visible=None,
        offered=None,
    ):
        if kind not in KINDS:
            raise ValueError("unknown kind %r; use one of %s" % (kind, KINDS))

        self.name = name
        self.kind = kind
        self.label = label
        self.help = help
        self.default = default
        self.default_help = default_help
        self.required = required
        self._choices = choices
        self.minimum = minimum
        self.maximum = maximum
        self._applies = applies
        self.group = group
        self.metavar = metavar
        self.cli = cli
        self.noun = noun or name
        self._check = check
        self.aliases = dict(aliases or {})
        self._visible = visible
        self._offered = offered

    def but(self, **changes):
        """A copy of this setting with some of its public attributes
        changed, e.g. the same setting, not required, in another job.

        Args:
            **changes: attribute values by name (``default``,
                ``default_help``, ``required``, ``help``, ...)

        Returns:
            a :class:`Setting`
        """
        setting = copy.copy(self)
        for name, value in changes.items():
            if name.startswith("_") or not hasattr(self, name):
                raise ValueError("a setting has no attribute %r" % name)

            setattr(setting, name, value)

        return setting

    @property
    def always_required(self):
        """Whether a value is required whatever the other values (a
        required setting that applies only to some runs is required there
        alone, which the job's check says)."""
        return self.required and self._applies is None

    @property
    def option(self):
        """The CLI option, ``--name-with-dashes``."""
        return "--" + self.name.replace("_", "-")

    @property
    def static_choices(self):
        """Whether the choices are fixed (not a function of other values)."""
        return self._choices is not None and not callable(self._choices)

    def choices(self, values=None, context=None):
        """The allowed choices given the other values.

        Returns:
            a list of :class:`Choice`, or None if any value of the kind goes
        """
        if self._choices is None:
            return None

        choices = self._choices
        if callable(choices):
            choices = choices(values or {}, context or {})
            if choices is None:  # any value of the kind goes
                return None

        return [_to_choice(c) for c in choices]

    def applies(self, values):
        """Whether the setting applies given the other values."""
        return self._applies is None or bool(self._applies(values))

    def visible(self, values):
        """Whether the form shows the setting given the other values."""
        if not self.applies(values):
            return False

        return self._visible is None or bool(self._visible(values))

    def offered(self, context):
        """Whether the form offers the setting for what ``context`` names
        (always without a context)."""
        return self._offered is None or not context or bool(self._offered(context))

    def parse(self, value, values=None, context=None):
        """Converts a value as typed or passed to this setting's kind and
        checks its limits (and its own ``check``).

        Args:
            value: the value; None or blank text means "not given"
            values (None): the other values so far, for its ``check``
            context (None): what its ``check`` needs

        Returns:
            the value, or None if not given

        Raises:
            AutolabelError: if the value is not of the kind or out of limits
        """
        if isinstance(value, str):
            value = value.strip()

        if value is None or value == "" or value == []:
            return None

        if self.kind == FLAG:
            if not isinstance(value, bool):
                raise AutolabelError(
                    "%s must be true or false, not %r" % (self.noun, value)
                )

            return value

        if self.kind == LIST:
            if isinstance(value, str):
                value = value.split(",")

            if not isinstance(value, (list, tuple)) or not all(
                isinstance(v, str) for v in value
            ):
                raise AutolabelError(
                    "%s must be a list of names, not %r" % (self.noun, value)
                )

            value = [v.strip() for v in value if v.strip()]
            return value or None

        if self.kind == INTEGER:
            number = _whole_number(value)
            if number is None:
                raise AutolabelError(
                    "%s must be a whole number%s, not %r"
                    % (self.noun, self._limits(), value)
                )

            value = number

        if self.kind == NUMBER:
            number = _number(value)
            if number is None:
                raise AutolabelError(
                    "%s must be a number%s, not %r"
                    % (self.noun, self._limits(), value)
                )

            value = number

        if self.kind in (TEXT, CHOICE) and not isinstance(value, str):
            if self.kind == TEXT or not self.static_choices:
                raise AutolabelError(
                    "%s must be text, not %r" % (self.noun, value)
                )

        if self.kind == CHOICE and isinstance(value, str):
            value = self.aliases.get(value, value)

        if self._check is not None:
            self._check(value, values or {}, context or {})

        if self.kind in (INTEGER, NUMBER):
            if (self.minimum is not None and value < self.minimum) or (
                self.maximum is not None and value > self.maximum
            ):
                raise AutolabelError(
                    "%s must be a %s%s, not %r"
                    % (
                        self.noun,
                        "whole number" if self.kind == INTEGER else "number",
                        self._limits(),
                        value,
                    )
                )

        return value

    def check(self, value, values=None, context=None):
        """:meth:`parse`, then checks a choice against the choices.

        Raises:
            AutolabelError: if the value is not valid
        """
        value = self.parse(value, values, context)
        if value is None:
            return None

        choices = self.choices(values, context)
        if choices is not None:
            allowed = [c.value for c in choices]
            # a list's items are each one of the choices
            for one in value if self.kind == LIST else [value]:
                if one not in allowed:
                    raise AutolabelError(
                        "%s %r is not one of %s"
                        % (
                            self.noun,
                            one,
                            ", ".join(str(v) for v in allowed)
                            or "(none here)",
                        )
                    )

        return value

    def _limits(self):
        low, high = self.minimum, self.maximum
        if low is not None and high is not None:
            return " between %g and %g" % (low, high)

        if low is not None:
            return " of at least %g" % low

        if high is not None:
            return " of at most %g" % high

        return ""

    def help_text(self):
        """The ``--help`` text: the help and the default."""
        if self.required:
            return "%s (required)" % self.help

        default = self.default_help
        if default is None:
            default = "none" if self.default is None else _format(self.default)

        return "%s (default: %s)" % (self.help, default)


class Settings(object):
    """The declaration of a job's settings, in the order forms show them.

    Args:
        name: what the job is called (for errors)
        settings: the :class:`Setting` instances
    """

    def __init__(self, name, settings):
        self.name = name
        self.settings = list(settings)
        names = [s.name for s in self.settings]
        if len(set(names)) != len(names):
            raise ValueError("a setting of %s is declared twice" % name)

    def __iter__(self):
        return iter(self.settings)

    def __getitem__(self, name):
        for setting in self.settings:
            if setting.name == name:
                return setting

        raise KeyError(name)

    @property
    def names(self):
        return [s.name for s in self.settings]

    def defaults(self):
        """Returns ``{name: default}``."""
        return {s.name: s.default for s in self.settings}

    def check(self, values, context=None):
        """Checks the values of the declared settings that apply and fills
        in defaults: the first check of every caller.

        Args:
            values: a dict of values by setting name; names not declared
                are ignored (the caller's own parameters)
            context (None): what dynamic choices need (``{"dataset": ...}``)

        Returns:
            a dict with every declared setting: the checked value, the
            default where none was given, None where it does not apply

        Raises:
            AutolabelError: naming the first setting whose value is wrong
                or missing
        """
        out = {}
        for setting in self.settings:
            if not setting.applies(out):
                out[setting.name] = None
                continue

            value = setting.check(values.get(setting.name), out, context)
            if value is None:
                if setting.required:
                    raise AutolabelError(
                        "%s needs %s (%s)"
                        % (self.name, setting.name, setting.help)
                    )

                value = setting.default

            out[setting.name] = value

        return out

    def form(self, values, context=None, error=None):
        """The form the panel draws: each setting it shows (that applies,
        is visible and is offered for the context), with its
        value, choices and error, computed as the user types.

        Args:
            values: the values typed so far, by setting name
            context (None): what dynamic choices need
            error (None): the job's own validation error, shown under the
                form

        Returns:
            a dict ``{"fields": [...], "ready": bool, "error": str or
            None}``; each field a dict with ``name``, ``kind``, ``label``,
            ``help``, ``value``, ``default``, ``default_help``,
            ``required``, ``choices``,
            ``min``, ``max``, ``group`` and ``error``
        """
        fields = []
        seen = {}
        ready = error is None
        for setting in self.settings:
            if not (setting.visible(seen) and setting.offered(context)):
                seen[setting.name] = None
                continue

            raw = values.get(setting.name)
            field_error = None
            try:
                value = setting.check(raw, seen, context)
            except AutolabelError as e:
                value, field_error = None, str(e)

            if field_error or (value is None and setting.required):
                ready = False

            seen[setting.name] = value if value is not None else setting.default
            choices = setting.choices(seen, context)
            fields.append(
                {
                    "name": setting.name,
                    "kind": setting.kind,
                    "label": setting.label,
                    "help": setting.help,
                    "value": raw if field_error else value,
                    "default": setting.default,
                    "default_help": setting.default_help,
                    "required": setting.required,
                    "choices": (
                        [c.to_dict() for c in choices]
                        if choices is not None
                        else None
                    ),
                    "min": setting.minimum,
                    "max": setting.maximum,
                    "group": setting.group,
                    "error": field_error,
                }
            )

        return {"fields": fields, "ready": ready, "error": error}

    def add_arguments(self, parser, skip=()):
        """Adds an option per declared setting to an argparse parser.

        Options keep ``None`` when not given (so :meth:`check` can tell a
        default from a choice); :meth:`from_args` reads them back.

        Args:
            parser: an :class:`argparse.ArgumentParser`
            skip (()): names of settings the command declares itself
        """
        groups = {}
        for setting in self.settings:
            if not setting.cli or setting.name in skip:
                continue

            target = parser
            if setting.group:
                if setting.group not in groups:
                    groups[setting.group] = parser.add_argument_group(
                        setting.group
                    )

                target = groups[setting.group]

            kwargs = dict(
                dest=setting.name,
                help=setting.help_text(),
                required=setting.always_required,
            )
            if setting.kind == FLAG:
                kwargs["action"] = "store_true"
                kwargs["default"] = None
            else:
                kwargs["type"] = _argument_type(setting)
                if setting.metavar:
                    kwargs["metavar"] = setting.metavar

                if setting.static_choices:
                    kwargs["choices"] = [c.value for c in setting.choices()]

            target.add_argument(setting.option, **kwargs)

    def from_args(self, args):
        """The values of the declared settings in parsed CLI arguments.

        Returns:
            a dict by setting name (None where not given)
        """
        return {
            s.name: getattr(args, s.name, None)
            for s in self.settings
            if s.cli
        }

    def add_inputs(self, inputs, values, context=None):
        """Adds the operator form's inputs of the settings that apply, each
        marked invalid with its error as the user types.

        Args:
            inputs: a :class:`fiftyone.operators.types.Object`
            values: the parameters given so far (``ctx.params``)
            context (None): what dynamic choices need

        Returns:
            the :meth:`form` dict the inputs were made from
        """
        from fiftyone.operators import types

        form = self.form(values, context)
        for field in form["fields"]:
            kwargs = dict(
                label=field["label"],
                description=field["help"],
                required=field["required"],
            )
            if field["default"] is not None:
                kwargs["default"] = field["default"]

            name = field["name"]
            if field["choices"] is not None and field["kind"] == LIST:
                # several of the choices: a list, which names them
                kwargs["description"] = "%s; of: %s" % (
                    field["help"],
                    ", ".join(str(c["value"]) for c in field["choices"]),
                )
                prop = inputs.list(name, types.String(), **kwargs)
            elif field["choices"] is not None:
                view = types.Dropdown()
                for c in field["choices"]:
                    view.add_choice(
                        c["value"],
                        label=c["label"],
                        description=c["description"],
                    )

                prop = inputs.enum(name, view.values(), view=view, **kwargs)
            elif field["kind"] == LIST:
                prop = inputs.list(name, types.String(), **kwargs)
            elif field["kind"] == FLAG:
                prop = inputs.bool(name, **kwargs)
            elif field["kind"] in (NUMBER, INTEGER):
                limits = {
                    k: field[k] for k in ("min", "max") if field[k] is not None
                }
                adder = inputs.int if field["kind"] == INTEGER else inputs.float
                prop = adder(name, **kwargs, **limits)
            else:
                prop = inputs.str(name, **kwargs)

            if field["error"]:
                prop.invalid = True
                prop.error_message = field["error"]

        return form


def _to_choice(choice):
    if isinstance(choice, Choice):
        return choice

    if isinstance(choice, tuple):
        return Choice(*choice)

    return Choice(choice)


def _whole_number(value):
    if isinstance(value, bool):
        return None

    if isinstance(value, int):
        return value

    if isinstance(value, float) and value.is_integer():
        return int(value)

    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("+-").isdigit():
            return int(text)

    return None


def _number(value):
    if isinstance(value, bool):
        return None

    if isinstance(value, (int, float)):
        return float(value) if value == value else None

    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None

        return number if number == number else None

    return None


def _format(value):
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)

    return str(value)


def _argument_type(setting):
    def convert(text):
        try:
            return setting.parse(text)
        except AutolabelError as e:
            raise argparse.ArgumentTypeError(str(e)) from None

    convert.__name__ = setting.kind
    return convert
