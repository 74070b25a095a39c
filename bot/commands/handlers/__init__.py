"""The bot's command handlers, by the name a command file gives in its `handler:` field.

Adding a command: a `.md` file in `.claude/commands/`, a module here with
`async def handle(ctx) -> Outcome`, and its line in HANDLERS.
"""

from bot.commands.context import Handler
from bot.commands.handlers import generate_report, help, status

HANDLERS: dict[str, Handler] = {
    "generate_report": generate_report.handle,
    "help": help.handle,
    "status": status.handle,
}
