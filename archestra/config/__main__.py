"""Configuration as code (docs/configuration-as-code.md):

    python -m archestra.config validate FILE                 check the file (no database)
    python -m archestra.config plan FILE [--detailed-exitcode]
    python -m archestra.config apply FILE [--tests DIR]     one transaction, one generation bump; then the tests
    python -m archestra.config export [-o FILE]
    python -m archestra.config test DIR... [--config FILE]  policy tests, offline
    python -m archestra.config schema [--scenario]           the JSON Schema of the file (or of a scenario)

The database is the one ``ARCHESTRA_DATABASE_URL`` names. Exit status: 0 done (plan: also with differences,
unless --detailed-exitcode: 2 then); 1 an invalid file, a change the database refused, or a failed policy test.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any


def _app() -> Any:
    from archestra import create_app

    return create_app()


def _load(path: str) -> dict[str, Any]:
    return _read(path)[1]


def _read(path: str) -> Any:
    from archestra.config_file.file_format import load_file

    # The file's ${NAME} references are expanded from the environment of this command, like ARCHESTRA_* settings.
    return load_file(path, os.environ)


def _plan(args: argparse.Namespace) -> int:
    from archestra.config_file.plan import diff, render, visible
    from archestra.config_file.state import read_state
    from archestra.extensions import db

    source, desired = _read(args.file)
    with _app().app_context():
        try:
            changes = diff(desired, read_state(db.session), source.where)
        finally:
            db.session.remove()
    print(render(changes, args.file))
    return 2 if args.detailed_exitcode and visible(changes) else 0


def _apply(args: argparse.Namespace) -> int:
    from archestra.actor import ADMIN, Actor, set_actor
    from archestra.config_file.apply import apply_state
    from archestra.config_file.kept_tests import current_resolver, run_kept
    from archestra.config_file.plan import render
    from archestra.config_file.scenarios import load_scenarios, run_all, summary

    source, desired = _read(args.file)
    scenarios, problems = load_scenarios(args.tests) if args.tests else ([], [])
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    with _app().app_context():
        set_actor(Actor("config_file", os.path.abspath(args.file), ADMIN))
        changes = apply_state(desired, source.where)
        print(render(changes, args.file).replace("to create", "created", 1).replace("to change", "changed", 1)
              .replace("to delete", "deleted", 1) if changes else f"{args.file}: nothing to change.")
        run = run_kept("apply")
        failures = [line for result in run.results for line in _failures(result)]
        # The scenarios given run against what the database now holds (the file's sections and the others).
        results = run_all(scenarios, current_resolver()) if scenarios else []
    print(f"kept policy tests: {run.total - run.failed} of {run.total} passed")
    for line in failures:
        print(line)
    if results:
        print(summary(results))
    return 1 if failures or any(not r.passed for r in results) else 0


def _failures(result: dict[str, Any]) -> list[str]:
    if result["error"]:
        return [f"FAIL {result['name']}: {result['error']}"]
    return [f"FAIL {result['name']}: step {step['step']} ({step['kind']} {step['tool']}): "
            + "; ".join(step["differences"]) for step in result["steps"] if not step["ok"]]


def _export(args: argparse.Namespace) -> int:
    from archestra.config_file.export import dump, export_state
    from archestra.config_file.state import read_state
    from archestra.extensions import db

    with _app().app_context():
        try:
            text = dump(export_state(read_state(db.session)))
        finally:
            db.session.remove()
    if args.output and args.output != "-":
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    return 0


def _validate(args: argparse.Namespace) -> int:
    _load(args.file)
    print(f"{args.file}: valid")
    return 0


def _test(args: argparse.Namespace) -> int:
    from archestra.config_file.scenarios import load_scenarios, run_all, state_resolver, summary

    scenarios, problems = load_scenarios(args.dirs)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    if not scenarios:
        print(f"no scenario files (*.yaml) in {', '.join(args.dirs)}", file=sys.stderr)
        return 1
    if args.config:
        results = run_all(scenarios, state_resolver(_load(args.config)))
    else:  # the database's configuration
        from archestra.config_file.kept_tests import current_resolver
        from archestra.extensions import db

        with _app().app_context():
            try:
                results = run_all(scenarios, current_resolver())
            finally:
                db.session.remove()
    print(summary(results))
    return 0 if all(result.passed for result in results) else 1


def _schema(args: argparse.Namespace) -> int:
    import json

    from archestra.config_file.json_schema import config_schema, scenario_schema

    print(json.dumps(scenario_schema() if args.scenario else config_schema(), indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m archestra.config", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    validate = commands.add_parser("validate", help="check a configuration file, without a database")
    validate.add_argument("file")
    plan = commands.add_parser("plan", help="show what apply would change in the database")
    plan.add_argument("file")
    plan.add_argument("--detailed-exitcode", action="store_true", help="exit 2 when there are differences")
    apply = commands.add_parser("apply", help="make the database match the file (one transaction)")
    apply.add_argument("file")
    apply.add_argument("--tests", action="append", help="scenario files or folders to run after applying")
    export = commands.add_parser("export", help="write the database's configuration in the file format")
    export.add_argument("-o", "--output", help="the file to write (default: standard output)")
    test = commands.add_parser("test", help="run policy test scenarios offline")
    test.add_argument("dirs", nargs="+", metavar="DIR")
    test.add_argument("--config", help="the configuration file to test (default: the database's configuration)")
    schema = commands.add_parser("schema", help="print the JSON Schema of the file (or of a scenario)")
    schema.add_argument("--scenario", action="store_true", help="the schema of a policy test scenario")
    args = parser.parse_args(argv)

    from sqlalchemy.exc import SQLAlchemyError

    from archestra.config import ConfigError
    from archestra.config_file.plan import PlanError
    from archestra.config_file.source import FileError

    try:
        return {"validate": _validate, "plan": _plan, "apply": _apply, "export": _export,
                "test": _test, "schema": _schema}[args.command](args)
    except FileError as exc:
        print("\n".join(exc.problems), file=sys.stderr)
        print("The file is invalid: nothing was changed.", file=sys.stderr)
        return 1
    except (PlanError, ConfigError) as exc:
        print(f"archestra: {exc}", file=sys.stderr)
        if args.command == "apply" and "nothing was changed" not in str(exc):
            print("Nothing was changed.", file=sys.stderr)
        return 1
    except SQLAlchemyError as exc:  # never the URL: it may hold a password
        print(f"archestra: the database cannot be used ({exc.__class__.__name__}: "
              f"{str(getattr(exc, 'orig', None) or exc).splitlines()[0]})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
