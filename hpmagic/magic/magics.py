"""The ``%%tune`` cell magic: parse the line, build the objective, run the engine, publish the results. Thin."""

from __future__ import annotations

import ast
import os
import threading
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring
from traitlets import Enum, Int, Unicode, observe

from hpmagic.cell import build_objective, default_study_name
from hpmagic.constraints import parse_constraints
from hpmagic.display import HTMLReporter, make_reporter, results_html, results_text
from hpmagic.display.study_list import StudyList
from hpmagic.errors import CellError, HpmagicError, OptionError
from hpmagic.execution import close_local_clusters, make_executor
from hpmagic.magic.command import ObjectiveDirection, TuneCommand, unquote
from hpmagic.markers import tune as tune_object
from hpmagic.notebook_origin import notebook_path
from hpmagic.run import build_run
from hpmagic.storage import Storage
from hpmagic.strategies import SCHEDULERS, STRATEGIES, strategy_help
from hpmagic.study import Study, load_study
from hpmagic.trial import TrialState

__all__ = ["TuneMagics", "parse_tune_line"]


@magics_class
class TuneMagics(Magics):
    """Tune the hyperparameters marked in a cell. Defaults can be set with ``%config TuneMagics.<option> = ...``."""

    storage = Unicode("hpmagic.db", help="Default study store: an SQLite file path, or :memory:.").tag(config=True)
    strategy = Unicode("bayes", help="Default strategy: one of hpmagic.strategies.STRATEGIES.").tag(config=True)
    trials = Int(20, help="Default number of trials (grid search defaults to the whole grid).").tag(config=True)
    max_failures = Int(5, help="Stop a study after this many failed trials in a row.").tag(config=True)
    grid_points = Int(5, help="Grid points per float parameter for grid search.").tag(config=True)
    threads = Int(1, help="BLAS/OpenMP threads per trial; 0 leaves the libraries' own setting.").tag(config=True)
    table_rows = Int(10, help="How many of the best trials the live table shows.").tag(config=True)
    jobs = Int(1, help="Trials at once in local Dask worker processes (1: one after another in the kernel).").tag(
        config=True
    )
    cluster = Unicode("", help="Address of a running Dask scheduler to send trials to, e.g. tcp://host:8786.").tag(
        config=True
    )
    display = Enum(
        ["auto", "widgets", "html", "text", "none"],
        "auto",
        help="Live display: auto (a widget dashboard in Jupyter, text elsewhere), widgets, html, text or none.",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell=shell, **kwargs)
        self._stores: dict[str, Storage] = {}
        self._background: dict[str, threading.Thread] = {}
        self._search_space: Any = None
        self._point_markers_at(self.storage)

    @property
    def _user_ns(self) -> dict[str, Any]:
        """The notebook's namespace. A TuneMagics made without a shell only lends its configured defaults."""
        if self.shell is None:
            raise RuntimeError("%%tune needs an IPython shell")
        return self.shell.user_ns

    @observe("storage")
    def _storage_changed(self, change: Any) -> None:
        self._point_markers_at(change["new"])

    @staticmethod
    def _point_markers_at(storage: str) -> None:
        """Markers run outside a study read best values from this store (after a kernel restart too)."""
        if storage and storage != ":memory:":
            tune_object.storage_path = os.path.abspath(os.path.expanduser(storage))

    @magic_arguments()
    @argument(
        "--strategy",
        "-s",
        help=f"{', '.join(STRATEGIES)} (default: %%config TuneMagics.strategy, bayes).",
    )
    @argument(
        "--scheduler",
        help=f"{', '.join(SCHEDULERS)}: budgets, promotions and early stops over the strategy "
        "(--strategy bayes --scheduler hyperband is BOHB).",
    )
    @argument("--trials", "-n", help="Total number of trials of the study (default 20; grid: the whole grid).")
    @argument("--timeout", "-t", help="Stop after this long, e.g. 90s, 10m, 1h (whichever comes first).")
    @argument("--trial-timeout", help="Interrupt (and fail) a trial that runs longer than this, e.g. 5m.")
    @argument("--seed", help="Random seed: the same seed gives the same sequence of configurations.")
    @argument(
        "--maximize",
        nargs="?",
        metavar="NAME",
        action=ObjectiveDirection,
        help="Maximize the objective; with NAME (repeatable), that key of a dict objective (several objectives).",
    )
    @argument(
        "--minimize",
        nargs="?",
        metavar="NAME",
        action=ObjectiveDirection,
        help="Minimize the objective (the default); with NAME (repeatable), that key of a dict objective.",
    )
    @argument(
        "--directions",
        help="Directions of a tuple objective's values by position, e.g. max,min (several objectives).",
    )
    @argument(
        "--primary",
        help="Several objectives: the one schedulers, tune.report and single-value views use (default the first).",
    )
    @argument(
        "--objective", "-o", help="Expression evaluated after the cell as the objective, instead of its last line."
    )
    @argument(
        "--constraint",
        action="append",
        help="A comparison over names the cell defines, evaluated after it, e.g. 'latency <= 10' (repeatable): "
        "the best trial is chosen among the trials that satisfy every constraint.",
    )
    @argument("--max-failures", help="Stop after this many failed trials in a row (default 5).")
    @argument("--grid-points", help="Grid search: points per float parameter (log-spaced for log ones; default 5).")
    @argument("--grid-sample", action="store_true", help="Grid search: sample the grid when it exceeds --trials.")
    @argument("--storage", help="Study store: an SQLite file (default hpmagic.db in the working folder) or :memory:.")
    @argument("--name", help="Study name (default: from the cell's content).")
    @argument("--resume", action="store_true", help="Continue the latest study of this name instead of a new one.")
    @argument("--out", help="Also put the Study object in this variable (it is always in tune.study).")
    @argument("--threads", help="BLAS/OpenMP threads per trial (default 1; 'all' for no limit).")
    @argument("--budget", help="Resource range MIN..MAX (epochs, iterations) that tune.steps() counts in, e.g. 1..81.")
    @argument("--state", help="Variables holding training state (e.g. clf,opt): promoted or cloned trials continue.")
    @argument("--prune", help="Early stopping on top of any strategy: median (stop trials worse than the median).")
    @argument("--repeats", help="Run each configuration K times (tune.seed = 0..K-1); the value is the mean.")
    @argument(
        "--test", help="Held-out metric evaluated after each trial, shown only at the end, never to the strategy."
    )
    @argument("--refine", action="store_true", help="Continue the study in ranges narrowed around its best trials.")
    @argument("--population", help="pbt and evolution: members of the population (pbt 8, evolution 20).")
    @argument("--interval", help="pbt: steps per round between exploit/explore (default: a tenth of the budget).")
    @argument("--options", help="The strategy's and scheduler's own options, NAME=VALUE pairs: e.g. eta=2.")
    @argument(
        "--jobs",
        "-j",
        help="Run N trials at once in local worker processes (a Dask cluster started once per kernel); with "
        "--cluster, the most trials at once.",
    )
    @argument("--cluster", help="Send trials to a running Dask scheduler, e.g. tcp://host:8786.")
    @argument("--resources", help="Dask worker resources each trial claims, e.g. GPU=1 (workers must advertise them).")
    @argument(
        "--enqueue",
        action="append",
        help="Run this configuration first, a dict such as \"{'lr': 0.01, 'depth': 4}\" (or a list of dicts; "
        "repeatable); tune.enqueue(...) before the cell does the same.",
    )
    @argument("--start-from-defaults", action="store_true", help="The first trial uses every marker's default=.")
    @argument(
        "--warm-from",
        help="Learn from the trials of the study of this name (NAME@path.db: in that store) where the spaces "
        "overlap; they are not counted as this study's trials.",
    )
    @argument(
        "--background",
        action="store_true",
        help="Run the study in a thread: the notebook stays usable; stop it with the dashboard or tune.study.stop().",
    )
    @cell_magic
    def tune(self, line: str, cell: str) -> None:
        """Tune the hyperparameters marked with tune.* in this cell.

        Mark values in the cell (``lr = tune.loguniform(1e-4, 1e-1)``, ``depth = tune.int(2, 8)``,
        ``kind = tune.choice(["a", "b"])``, ``x = tune.uniform(0, 1)``); the cell's last expression is the
        objective. Each trial runs the cell on a copy of the namespace; afterwards the best trial's variables,
        ``tune.best`` (its parameters) and ``tune.study`` are set, and the study is saved in the store.
        """
        try:
            cmd = parse_tune_line(line, self)
            executor = make_executor(
                jobs=cmd.jobs,
                cluster=cmd.cluster,
                resources=dict(cmd.resources) if cmd.resources else None,
            )
            study, objective, strategy, n_trials = self._prepare(cmd, cell, parallel=executor is not None)
        except HpmagicError as exc:
            raise UsageError(str(exc)) from None
        for warning in objective.warnings:
            print(f"hpmagic: {warning}")
        search_space = self._search_space

        def use_best(number: int | None = None) -> str:
            """Publish the best trial, or trial ``number`` (a multi-objective study's pick from its front)."""
            return self._publish(cmd, study, objective, number)

        reporter = make_reporter(
            self.display,
            top_k=self.table_rows,
            on_use_best=use_best,
            on_use_trial=use_best,  # the Pareto tab's "Use this trial"
            background=cmd.background,
        )

        def run() -> None:
            try:
                study.optimize(
                    objective,
                    strategy,
                    n_trials=n_trials,
                    timeout=cmd.timeout,
                    trial_timeout=cmd.trial_timeout,
                    max_failures=cmd.max_failures,
                    reporters=[reporter] if reporter is not None else [],
                    threads=cmd.threads,
                    catch_interrupt=True,
                    budget=cmd.budget,
                    repeats=cmd.repeats,
                    search_space=search_space,
                    executor=executor,
                )
            finally:
                self._publish(cmd, study, objective)
                # A later cell makes a new Study (a --resume too): this one's training-state snapshots, and any
                # folder they spilled to, are of no more use.
                study.close()

        if not cmd.background:
            run()
            return
        tune_object.study = study
        if cmd.out:
            self._user_ns[cmd.out] = study
        thread = threading.Thread(target=run, name=f"hpmagic study {study.name}", daemon=True)
        self._background[study.name] = thread
        thread.start()
        if reporter is None:
            print(f"hpmagic: study {study.name!r} runs in the background; tune.study.stop() stops it")

    def _prepare(self, cmd: TuneCommand, cell: str, parallel: bool = False) -> tuple[Study, Any, Any, int | None]:
        source = self.shell.transform_cell(cell) if self.shell is not None else cell
        # The cell starts on the editor's line 2, under the %%tune line, and IPython drops its leading blank lines:
        # errors and tracebacks count them back.
        blank = next((i for i, text in enumerate(cell.splitlines()) if text.strip()), 0) if self.shell else 0
        _check_ipython_syntax(cell, source, 2 + blank, parallel)
        user_ns = self.shell.user_ns if self.shell is not None else {}
        objective = build_objective(
            source, user_ns, cmd.objective, state=cmd.state, test=cmd.test, first_line=2 + blank
        )
        objective.extra_names = frozenset().union(*(c.names for c in parse_constraints(cmd.constraints)))
        if parallel:
            objective.for_workers()  # a variable that cannot travel to the workers is an error before any study
        run = build_run(
            space=objective.space,
            strategy=cmd.strategy,
            scheduler=cmd.scheduler,
            options=cmd.search_options(),
            n_trials=cmd.n_trials,
            default_trials=self.trials,
            budget=cmd.budget,
            prune=cmd.prune,
            refine=cmd.refine,
            resume=cmd.resume,
            storage=self._store(cmd.storage),
            name=cmd.name or default_study_name(cell),
            direction=cmd.direction,
            named_objectives=cmd.named_objectives,
            directions=cmd.directions or None,
            primary=cmd.primary,
            objective_shape=objective.shape,
            seed=cmd.seed,
            source=cell,
            record_options={**cmd.options(), "notebook": notebook_path(user_ns)},
            dynamic_line=objective.dynamic[0].line if objective.dynamic else None,
            enqueue=[*cmd.enqueue, *tune_object.pending()],
            start_from_defaults=cmd.start_from_defaults,
            warm_from=cmd.warm_from,
            constraints=cmd.constraints,
        )
        tune_object.pending(clear=True)
        self._search_space = run.search_space
        return run.study, objective, run.search, run.n_trials

    def _store(self, path: str) -> Storage:
        key = path if path == ":memory:" else os.path.abspath(os.path.expanduser(path))
        store = self._stores.get(key)
        if store is None:
            store = self._stores[key] = Storage(key)
        return store

    def _publish(self, cmd: TuneCommand, study: Study, objective: Any, number: int | None = None) -> str:
        """Put the best trial's variables, ``tune.best`` and ``tune.study`` (and ``--out``) in the namespace.

        A multi-objective study has no single best: trial ``number`` when the user picked one (of its Pareto
        front, say), else the front's trial best on the primary objective. Returns a sentence saying what was
        published (the dashboard's "Use best" shows it).
        """
        ns = self._user_ns
        chosen = next((t for t in study.trials if t.number == number), None) if number is not None else None
        if number is not None and (chosen is None or chosen.state is not TrialState.COMPLETE):
            return f"trial {number} is not a complete trial of study {study.name!r}; nothing was published"
        best = chosen or study.primary_best
        variables = objective.best_variables if best is not None and objective.best_number == best.number else None
        if best is not None and variables is None:
            # The best trial ran in an earlier session (a resumed study): rebuild its variables once.
            try:
                budget = best.user_attrs.get("budget") or (cmd.budget[1] if cmd.budget else None)
                variables = objective.replay(best.params, budget=budget)
            except Exception as exc:  # noqa: BLE001 - the study is safe; only the convenience is lost
                print(f"hpmagic: could not rebuild the best trial's variables ({type(exc).__name__}: {exc})")
        if variables:
            ns.update(variables)
        tune_object._remember(study, chosen)
        if cmd.storage != ":memory:":
            tune_object.storage_path = os.path.abspath(os.path.expanduser(cmd.storage))
        if cmd.out:
            ns[cmd.out] = study
        if best is None:
            return "no complete trial to publish"
        names = ", ".join(sorted(variables or {})) or "no variables"
        why = ""
        if study.is_multi_objective and chosen is None:
            why = f" (of the Pareto front, the best on {study.objective_names[study.primary_index]})"
        return f"published trial {best.number}{why}: tune.best and {names}"

    @magic_arguments()
    @argument("name", nargs="*", help="The study's name (default: the study last run or resumed in the store).")
    @argument("--storage", help="The study store (default: %%config TuneMagics.storage, hpmagic.db).")
    @line_magic
    def tune_show(self, line: str) -> None:
        """Show a stored study's dashboard again, e.g. after a kernel restart: %tune_show NAME."""
        args = parse_argstring(self.tune_show, line)
        try:
            store = self._store(unquote(args.storage) or self.storage)
            name = unquote(" ".join(args.name)) if args.name else None
            if name is None:
                studies = store.list_studies()
                if not studies:
                    raise OptionError(f"there is no study in {store.path!r} yet")
                # The study last written to: the one just run, or an older one just resumed (newest first on ties).
                name = max(studies, key=lambda study: study["updated_at"])["name"]
            study = load_study(name, store)
        except HpmagicError as exc:
            raise UsageError(str(exc)) from None
        reporter = make_reporter(self.display, top_k=self.table_rows)
        if hasattr(reporter, "load"):
            reporter.load(study).show()
        elif isinstance(reporter, HTMLReporter):
            from IPython.display import HTML, display

            display(HTML(results_html(study)))
        else:
            print(results_text(study))

    @magic_arguments()
    @argument("--storage", help="The study store (default: %%config TuneMagics.storage, hpmagic.db).")
    @line_magic
    def tune_list(self, line: str) -> StudyList:
        """List the studies in the store: name, state, strategy, trials, best value."""
        args = parse_argstring(self.tune_list, line)
        try:
            store = self._store(unquote(args.storage) or self.storage)
            return StudyList(store.path, store.list_studies())
        except HpmagicError as exc:
            raise UsageError(str(exc)) from None

    def close(self) -> None:
        """Close the stores this magic opened, and the local Dask cluster (on unload)."""
        close_local_clusters()
        for store in self._stores.values():
            try:
                store.close()
            except Exception:  # noqa: BLE001
                pass
        self._stores.clear()


# magic_arguments documents every magic as a line magic ("%tune ..."); this one is a cell magic.
TuneMagics.tune.__doc__ = (TuneMagics.tune.__doc__ or "").replace("%tune [", "%%tune [", 1) + ("\n" + strategy_help())


def _check_ipython_syntax(cell: str, source: str, first_line: int, parallel: bool) -> None:
    """Refuse IPython syntax the study cannot run, naming the editor's line (``source`` starts on ``first_line``).

    IPython runs a cell magic only from a cell's first line: under ``%%tune`` one on the next line would take the
    whole cell as its text (no markers left to find), and one further down is an unknown line magic in every trial;
    above ``%%tune`` it wraps the study, as the user meant. With ``parallel`` (``--jobs``/``--cluster``) any
    IPython syntax is refused: ``!cmd``, ``%magic`` and ``name?`` need the kernel's shell, which worker processes
    do not have.
    """
    first = cell.strip().split(maxsplit=1)
    if first and first[0].startswith("%%"):
        raise _cell_magic_error(first_line, first[0])
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return  # build_objective says where
    calls = sorted(call for node in ast.walk(tree) if (call := _ipython_call(node)) is not None)
    for line, method, text in calls:
        # IPython writes a %%magic line below the first as get_ipython().run_line_magic('%magic', ...).
        if method == "run_line_magic" and text.startswith("%"):
            raise _cell_magic_error(first_line + line - 1, f"%{text}")
    if parallel and calls:
        raise CellError(
            f"line {first_line + calls[0][0] - 1}: IPython syntax (!command, %magic, name?) runs only in the kernel, "
            "not in the worker processes of --jobs/--cluster; write that line in Python, or run without --jobs"
        )


def _ipython_call(node: ast.AST) -> tuple[int, str, str] | None:
    """``(line, method, first argument)`` of a ``get_ipython().method("...", ...)`` call: how IPython writes its
    syntax."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Call)
        and isinstance(node.func.value.func, ast.Name)
        and node.func.value.func.id == "get_ipython"
    ):
        text = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) else ""
        return node.lineno, node.func.attr, text if isinstance(text, str) else ""
    return None


def _cell_magic_error(line: int, magic: str) -> CellError:
    return CellError(
        f"line {line}: {magic} is a cell magic, which IPython runs only from a cell's first line; put it above "
        f"%%tune ({magic} on line 1, then %%tune ...)"
    )


def parse_tune_line(line: str, defaults: Any = None) -> TuneCommand:
    """Parse a ``%%tune`` line into a TuneCommand; any problem is a UsageError naming it."""
    defaults = defaults if defaults is not None else TuneMagics()
    try:
        args = parse_argstring(TuneMagics.tune, line)
    except UsageError as exc:
        text = str(exc)
        if "unrecognized arguments" in text:
            text = f"unknown option(s): {text.split(':', 1)[1].strip()}; see %%tune? for the options"
        raise UsageError(text) from None
    except ValueError as exc:  # unbalanced quotes
        raise UsageError(f"cannot read the %%tune line: {exc}") from None
    try:
        return TuneCommand.from_args(args, defaults)
    except HpmagicError as exc:
        raise UsageError(str(exc)) from None
