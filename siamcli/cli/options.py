"""Shared option decorators and parameter types: every command declares the same option the same way."""

from __future__ import annotations

import functools

import click

from ..errors import UsageError
from ..io import FORMATS
from ..output import FORMATTERS
from .completion import complete_metric
from .flags import flag_name
from .metric_params import SiamCommand, metric_param_options

#: click settings every command shares.
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
#: The decorator of every command: `@command()` as `@click.command()`, with the shared settings.
command = functools.partial(click.command, cls=SiamCommand, context_settings=CONTEXT)


class InputFormatChoice(click.Choice):
    """--input-format's choices, read from the table of formats when used: a format registered
    at run time is accepted at once."""

    def __init__(self):
        super().__init__(())

    @property
    def choices(self):
        return tuple(FORMATS)

    @choices.setter
    def choices(self, value):  # click.Choice.__init__ sets it; the table is the one truth
        pass



class CountOrAll(click.ParamType):
    """A positive whole number, or 'all'."""

    name = "N|all"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        if str(value).lower() == "all":
            return "all"
        try:
            number = int(value)
        except ValueError:
            self.fail(f"expected a whole number or 'all', got '{value}'", param, ctx)
        if number < 1:
            self.fail(f"must be at least 1, got {number}", param, ctx)
        return number


class Number(click.ParamType):
    """A finite decimal number (nan and inf are refused; `allow_inf` accepts inf, as minkowski's p)."""

    name = "NUMBER"

    def __init__(self, allow_inf: bool = False):
        self.allow_inf = allow_inf

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, float):
            return value
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"expected a number, got '{value}'", param, ctx)
        if number != number or (number in (float("inf"), float("-inf")) and not self.allow_inf):
            self.fail(f"expected a finite number, got '{value}'", param, ctx)
        return number


class FormatChoice(click.Choice):
    """-f: the formats of output.FORMATTERS as they are when used, so that a format added at run
    time (output.register_format) is offered by every command."""

    def __init__(self):
        super().__init__(())

    @property
    def choices(self) -> tuple[str, ...]:
        return tuple(FORMATTERS)

    @choices.setter
    def choices(self, value) -> None:
        pass  # always the live table


class Size(click.ParamType):
    """A size in bytes written as 512M, 2G, 1.5GiB or a plain number of bytes."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, int):
            return value
        from ..engine import parse_size

        try:
            return parse_size(value)
        except UsageError as exc:
            self.fail(exc.render(flag_name), param, ctx)



class NumberList(click.ParamType):
    """A comma list of numbers: 0.1,0.01 or 1,5,10."""

    name = "LIST"

    def __init__(self, kind=float):
        self.kind = kind

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        items = value.split(",")
        try:  # an empty item ('', '1,,2') is a typo, not "nothing here"
            numbers = tuple(self.kind(x) for x in items) if all(x.strip() for x in items) else (float("nan"),)
        except ValueError:
            numbers = (float("nan"),)
        if any(x != x or x in (float("inf"), float("-inf")) for x in numbers):
            self.fail(f"expected a comma list of finite {'whole ' if self.kind is int else ''}numbers, got '{value}'",
                      param, ctx)
        return numbers


def option_group(*decorators):
    """One decorator applying several click options, in the order listed (as in --help)."""

    def apply(command):
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


#: -f/--format, --precision and --debug, the same on every command.
output_options = option_group(
    click.option("-f", "--format", "fmt", type=FormatChoice(), default=None,
                 help="Output format. Default: table on a terminal, jsonl otherwise."),
    click.option("--precision", type=click.IntRange(0, 17), default=4, show_default=True,
                 help="Decimals shown in tables (machine formats keep full precision)."),
    click.option("--debug", is_flag=True, help="Show Python tracebacks on errors."),
)

#: --report FILE.html: the command's report as one self-contained HTML page.
report_option = click.option(
    "--report", "report", type=click.Path(dir_okay=False), default=None, metavar="FILE.html",
    help="Also save the report as one self-contained HTML page: findings, tables, figures (with siamcli[plot]).")


def data_params(values: dict) -> dict:
    """The metric parameters given that name files (cov_from), which outputs must not overwrite."""
    from ..metrics import metric_params

    specs = metric_params(plugins=False)
    return {k: v for k, v in values.items() if k in specs and specs[k][0].kind == "data"}


#: The metric and how it treats the inputs.
metric_options = option_group(
    click.option("-m", "--metric", default="cosine", show_default=True, shell_complete=complete_metric(),
                 help="Metric name or alias; 'siamcli metrics' lists them."),
    metric_param_options,
    click.option("--normalize", is_flag=True, help="L2-normalise every vector before the metric."),
    click.option("--zero-vector", type=click.Choice(["error", "nan", "zero"]), default="error", show_default=True,
                 help="Vectors where the metric is undefined (zero vectors for cosine): stop with an error, "
                      "score NaN (null in JSON), or score the metric's neutral value (cosine 0)."),
)

#: How much one input may bring into memory.
max_input_option = click.option(
    "--max-input-size", type=Size(), default="2G",
    help="Most bytes one input may bring into memory: stdin, pipes, text files, decompressed .gz "
         "and .npz members (default 2G; a .npy file is checked against its header instead).")

def _collect_reading(command):
    """Passes the table options (--column, --columns, --id-column, --show, --dtype) to the command as
    one dict, `reading`: the keywords load_embeddings takes for them (--show's names as `fields`)."""

    @functools.wraps(command)
    def collected(*args, **kwargs):
        reading = {name: kwargs.pop(name) for name in ("column", "columns", "id_column", "dtype")}
        reading["fields"] = tuple(name.strip() for given in kwargs.pop("show", ()) for name in given.split(",")
                                  if name.strip())
        return command(*args, reading=reading, **kwargs)

    return collected


#: Which columns of a table (Parquet, Arrow, a dataset, CSV) hold the vectors, ids and text to show;
#: the float type to compute in. The command gets them as one dict, `reading`.
read_options = option_group(
    _collect_reading,
    click.option("--column", default=None,
                 help="The list column holding the vectors (Parquet, Arrow, datasets, CSV list cells; "
                      "default: the only one)."),
    click.option("--columns", default=None,
                 help="The numeric columns making each vector: a comma list, or a prefix pattern such as 'e*' "
                      "(default: every numeric column but the id)."),
    click.option("--id-column", default=None, help="The column of row ids (default: a column named 'id')."),
    click.option("--dtype", type=click.Choice(["float32", "float64"]), default=None,
                 help="Read and compute in this float type (default: the file's; text: float32 when every "
                      "value survives the round trip to it, else float64)."),
)

#: --show, on the commands whose results are pairs (read_options passes it on as `fields`).
show_option = click.option(
    "--show", multiple=True, metavar="FIELD",
    help="A text column of the inputs to add to each result (a_FIELD, b_FIELD), e.g. --show text; repeatable.")

#: How to read A and B.
input_options = option_group(
    click.option("--input-format", type=InputFormatChoice(), default=None,
                 help="Format of the inputs when the suffix does not say (needed rarely for '-', stdin)."),
    click.option("--key", default=None,
                 help="Array, tensor or dataset to use from A (.npz, .safetensors, .h5, .pt; default: the only "
                      "2-D one, or 'embeddings')."),
    click.option("--b-key", default=None, help="As --key, for B (default: as --key)."),
    click.option("--ids", "ids_a", type=click.Path(), default=None, help="Row ids of A, one per line."),
    click.option("--b-ids", "ids_b", type=click.Path(), default=None, help="Row ids of B, one per line."),
    read_options,
    max_input_option,
)

#: -q/--quiet, on every command.
quiet_option = click.option("-q", "--quiet", is_flag=True,
                            help="No progress bar and no notes on stderr (errors, and why the exit status is 1, "
                                 "still show).")

#: How much memory and how many threads the computation may use; --quiet.
engine_options = option_group(
    click.option("--memory", type=Size(), default="512M", show_default=True,
                 help="Working memory beyond the inputs (e.g. 256M, 2G); work runs in blocks that fit."),
    click.option("--threads", type=click.IntRange(1, None), default=None,
                 help="Threads for BLAS and the kernels (default: every core)."),
    quiet_option,
)


#: Run on a Dask cluster (the `dask` extra).
scheduler_option = click.option(
    "--scheduler", default=None,
    help="Run on a Dask cluster: a scheduler address (tcp://host:8786; trusted like code: see docs/performance.md), or "
         "local[:N] for N worker processes here. Default: $SIAMCLI_SCHEDULER, else this process. A run fails "
         "once the cluster has had no worker for 30 s ($SIAMCLI_NO_WORKERS_TIMEOUT). Needs siamcli[dask].")

