"""`flask users ...`: create accounts and tokens from the command line."""
from __future__ import annotations

import click
from flask.cli import AppGroup

from accounts.models import Role
from accounts.service import create_user, issue_token
from errors import QianlingError
from extensions import db

users_cli = AppGroup("users", help="Manage user accounts.")


@users_cli.command("create")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              envvar="QIANLING_NEW_PASSWORD", help="Prompted for when not given.")
@click.option("--display-name", default="")
@click.option("--token/--no-token", default=False, help="Also issue an API token and print it.")
def create(username: str, email: str, role: str, password: str, display_name: str, token: bool) -> None:
    """Create a user with one role."""
    try:
        user = create_user(db.session, username, email, password, role, display_name)
        issued = issue_token(db.session, user, name="cli") if token else None
        db.session.commit()
    except QianlingError as err:
        raise click.ClickException(err.message) from None
    click.echo(f"created user id={user.id} username={user.username} role={user.role.value}")
    if issued:
        click.echo(f"token={issued}")
