"""Options for the metrics' parameters (--p, --cov-from, a plugin's), made from their Param records when a
command parses its arguments rather than when the commands are built: a metric registered later (a plugin,
a test) gets its option. Entry-point plugins are loaded only for --help or an option nothing else declares,
as importlib.metadata would cost every start-up (test_a_small_compare_loads_only_what_it_needs)."""

from __future__ import annotations

import click

from .completion import complete_inputs
from .flags import flag_name

#: ctx.meta key: load the entry-point plugins before listing the metric parameters.
WITH_PLUGINS = "siamcli.metric_plugins"


class MetricParamsSlot(click.Option):
    """Where a command's metric-parameter options go; SiamCommand.get_params puts them in its place."""

    def __init__(self, param_decls=None, **attrs):
        super().__init__(["--metric-params"], hidden=True, expose_value=False)


def metric_param_options(command):
    """Gives the command an option per parameter of every registered metric; it takes them as **metric_params."""
    return click.option(cls=MetricParamsSlot)(command)


def whole_summary(command: click.Command) -> str:
    """A command's summary in its group's --help: its short_help, else the whole first sentence of
    its help (click cuts it at about 45 characters, mid-sentence), wrapped by the help formatter."""
    if command.short_help or not command.help:
        return click.Command.get_short_help_str(command)
    paragraph = " ".join(command.help.split("\n\n")[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[:end + 1]


class SiamCommand(click.Command):
    """A command whose metric-parameter options are read from the registry when it parses or shows help,
    whose arguments (its inputs) complete as file names in the shell, and whose summary is whole in its
    group's help."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        complete_inputs(self)

    def get_short_help_str(self, limit: int = 45) -> str:
        return whole_summary(self)

    def parse_args(self, ctx, args):
        if self._needs_plugins(ctx, args):
            ctx.meta[WITH_PLUGINS] = True
        return super().parse_args(ctx, args)

    def get_params(self, ctx):
        params = []
        for param in super().get_params(ctx):
            params.extend(self._metric_options(ctx) if isinstance(param, MetricParamsSlot) else [param])
        return params

    def _needs_plugins(self, ctx, args) -> bool:
        """--help, or a long option no metric registered so far (nor the command) declares."""
        if not any(isinstance(p, MetricParamsSlot) for p in self.params):
            return False
        known = {opt for p in self.get_params(ctx) for opt in (*p.opts, *p.secondary_opts)}
        for arg in args:
            if arg == "--":
                break
            if arg in ctx.help_option_names or (arg.startswith("--") and arg.split("=", 1)[0] not in known):
                return True
        return False

    def _metric_options(self, ctx) -> list[click.Option]:
        """One option per parameter, the same objects on every call (click matches parsed options by identity)."""
        from ..metrics import metric_params
        from .options import Number

        made = self.__dict__.setdefault("_metric_option_cache", {})
        options = []
        for name, (param, _) in metric_params(plugins=bool(ctx.meta.get(WITH_PLUGINS))).items():
            if name not in made or made[name][0] is not param:
                kind = click.Path() if param.kind == "data" else Number(allow_inf=param.allow_inf)
                made[name] = (param, click.Option([flag_name(name), name], type=kind, default=None, help=param.help))
            options.append(made[name][1])
        return options


class SiamCommandGroup(click.Group):
    """A group of commands (siamcli loss) whose commands complete their metric options as SiamCommand does."""

    command_class = SiamCommand

    def get_short_help_str(self, limit: int = 45) -> str:
        return whole_summary(self)
