"""The ``recipe-fields`` directive: every recipe field of one group, generated from the recipe dataclasses.

The fields come from :func:`respira.training.recipe.recipe_flags`, the flags of the recipe
dataclasses that ``respira train --help`` prints and those a recipe sets (``RECIPE_ONLY_OPTIONS``): one
entry per field (its name, its value type, the aliases transformers' scripts use, its help ending with the
default). Nothing is typed by hand, so a renamed field or a changed help changes the page.

Usage in a MyST page, one directive per group (``model``, ``data``, ``run``, ``training``)::

    ```{recipe-fields} model
    ```

Each field is a cross-reference target: ``{recipe-field}`loss``` links to it (and fails the build when the
field does not exist). A group that no page renders fails the build too.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

if TYPE_CHECKING:
    from respira.training.recipe import Flag

logger = logging.getLogger(__name__)

GROUPS: tuple[str, ...] = ("model", "data", "run", "training")
"""The recipe's argument groups (the dataclasses' ``_argument_group_name``), in ``--help``'s order."""


def _group_fields(group_name: str) -> tuple[str, list[Flag]]:
    """The description and the listed flags of ``group_name`` in the recipe flags."""
    from respira.training.recipe import FLAG_GROUPS, recipe_flags

    if group_name not in FLAG_GROUPS:
        raise ValueError(f"the recipe has no field group {group_name!r} (groups: {', '.join(GROUPS)})")
    listed = [
        flag for flag in recipe_flags() if flag.group == group_name and (flag.listed or flag.recipe_only)
    ]
    return " ".join(FLAG_GROUPS[group_name].split()), listed


def _value_type(flag: Flag) -> str:
    options = flag.options
    if options.get("choices") is not None:
        return " | ".join(str(choice) for choice in options["choices"])
    kinds = {int: "int", float: "float", str: "text"}
    return options.get("metavar") or kinds.get(options.get("type"), "value")


class RecipeFields(SphinxDirective):
    """One definition list entry per recipe field of the group named by the argument."""

    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        try:
            description, flags = _group_fields(name)
        except ValueError as error:
            raise self.error(str(error)) from None
        _rendered(self.env).add(name)
        std = self.env.get_domain("std")
        result: list[nodes.Node] = [nodes.paragraph(text=description)] if description else []
        listing = nodes.definition_list()
        for flag in flags:
            node_id = f"recipe-field-{flag.dest}"
            term = nodes.term()
            target = nodes.target("", "", ids=[node_id])
            term += target
            term += nodes.literal(text=flag.dest)
            term += nodes.Text(f" ({_value_type(flag)})")
            aliases = [
                option[2:]
                for option in flag.option_strings
                if option[2:] != flag.dest and option[2:].replace("-", "_") != flag.dest
            ]
            if aliases:
                term += nodes.Text(", also ")
                term += nodes.literal(text=", ".join(aliases))
            std.note_object("recipe-field", flag.dest, node_id, location=target)
            definition = nodes.definition("", nodes.paragraph(text=str(flag.options.get("help") or "")))
            listing += nodes.definition_list_item("", term, definition)
        result.append(listing)
        return result


def _rendered(env: BuildEnvironment) -> set[str]:
    if not hasattr(env, "recipe_field_groups"):
        env.recipe_field_groups = {}  # docname -> groups it renders
    return env.recipe_field_groups.setdefault(env.docname, set())


def _purge(app: Sphinx, env: BuildEnvironment, docname: str) -> None:
    getattr(env, "recipe_field_groups", {}).pop(docname, None)


def _merge(app: Sphinx, env: BuildEnvironment, docnames: Any, other: BuildEnvironment) -> None:
    env.recipe_field_groups = {
        **getattr(env, "recipe_field_groups", {}),
        **getattr(other, "recipe_field_groups", {}),
    }


def _check_every_group(app: Sphinx, env: BuildEnvironment) -> None:
    shown = set().union(*getattr(env, "recipe_field_groups", {}).values())
    missing = [group for group in GROUPS if group not in shown]
    if missing:
        logger.warning(
            "recipe field groups on no page: %s (add recipe-fields directives)", ", ".join(missing)
        )


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_object_type("recipe-field", "recipe-field", objname="recipe field")
    app.add_directive("recipe-fields", RecipeFields)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    app.connect("env-check-consistency", _check_every_group)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
