"""`/help` lists the commands the commenter may run; `/help NAME` explains one."""

from __future__ import annotations

from bot.commands.catalogue import Catalogue, CommandSpec
from bot.commands.context import CommandContext, Outcome
from bot.commands.grammar import scan
from bot.domain import Permission
from bot.markdown import table_cell


def command_line(spec: CommandSpec) -> str:
    hint = f" {spec.argument_hint}" if spec.argument_hint else ""
    return f"`/{spec.id}{hint}`"


def listing(catalogue: Catalogue, permission: Permission) -> str:
    allowed = [spec for spec in catalogue if spec.runnable and permission.allows(spec.permission)]
    if not allowed:
        return "There is no command you can run here."
    lines = ["Commands you can run here:", ""]
    lines += [f"- {command_line(spec)}: {spec.description}" for spec in allowed]
    lines += ["", "Comment `/help NAME` for one command's parameters."]
    return "\n".join(lines)


def details(spec: CommandSpec, permission: Permission) -> str:
    lines = [f"{command_line(spec)}: {spec.description}", ""]
    if spec.parameters:
        lines += ["| parameter | type | default | description |", "| --- | --- | --- | --- |"]
        for p in spec.parameters:
            default = (
                "required" if p.required else f"`{p.default}`" if p.default is not None else ""
            )
            kind = p.type + (f" ({', '.join(p.choices)})" if p.choices else "")
            lines.append(f"| `{p.name}` | {kind} | {default} | {table_cell(p.description)} |")
        lines.append("")
    lines.append(f"Needs `{spec.permission}` permission on the repository.")
    if not permission.allows(spec.permission):
        lines.append(f"You have `{permission}`, so you cannot run it here.")
    if spec.trigger_labels:
        labels = ", ".join(f"`{name}`" for name in spec.trigger_labels)
        lines.append(f"Applying {labels} to an issue runs it too.")
    return "\n".join(lines)


async def handle(ctx: CommandContext) -> Outcome:
    name = str(ctx.params.get("command") or "").lstrip("/")
    if not name:
        return Outcome(markdown=listing(ctx.catalogue, ctx.actor_permission))
    spec = ctx.catalogue.get(name)
    if spec is None or not spec.runnable:
        near = scan(f"/{name}", ctx.catalogue.runnable_names()).near_misses
        hint = f" Did you mean `/{near[0].suggestion}`?" if near else ""
        return Outcome(
            markdown=f"There is no command `/{name}` here.{hint}\n\n"
            + listing(ctx.catalogue, ctx.actor_permission)
        )
    return Outcome(markdown=details(spec, ctx.actor_permission))
