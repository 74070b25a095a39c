"""The bot's command handlers, by the name a command file gives in its `handler:` field.

Adding a command: a `.md` file in `.claude/commands/`, a module here with
`async def handle(ctx) -> Outcome`, and its line in HANDLERS.
"""

from bot.commands.context import Handler
from bot.commands.handlers import cancel, generate_report, help, retry, status

HANDLERS: dict[str, Handler] = {
    "cancel": cancel.handle,
    "generate_report": generate_report.handle,
    "help": help.handle,
    "retry": retry.handle,
    "status": status.handle,
}
