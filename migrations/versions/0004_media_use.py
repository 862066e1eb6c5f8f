"""media_use: which jobs show each stored image, so that only their people may fetch it

Until now any signed-in user could fetch a stored image by its name (the sha256 of its bytes).
An image now opens only to those who may see a job that shows it (projects.service.may_see_media).
Zip imports record those jobs as they finish; this migration records them for the images
already imported, from the tasks of finished zip uploads.

Revision ID: 0004_media_use
Revises: 0003_assignment_person
Create Date: 2026-12-04 16:30:00
"""
from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op

revision: str = '0004_media_use'
down_revision: Union[str, Sequence[str], None] = '0003_assignment_person'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

MEDIA_URL = '/media/'


def upgrade() -> None:
    media_use = op.create_table(
        'media_use',
        sa.Column('project_id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=80), nullable=False),
        sa.ForeignKeyConstraint(['project_id'], ['project.id'], name=op.f('fk_media_use_project_id_project'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('project_id', 'name', name=op.f('pk_media_use')),
    )
    op.create_index(op.f('ix_media_use_name'), 'media_use', ['name'], unique=False)
    task = sa.table('task', sa.column('project_id', sa.Integer()), sa.column('upload_id', sa.Integer()),
                    sa.column('data', sa.JSON()))
    upload = sa.table('upload', sa.column('id', sa.Integer()), sa.column('format', sa.String()))
    image = task.c.data['image'].as_string()
    op.execute(media_use.insert().from_select(
        ['project_id', 'name'],
        sa.select(task.c.project_id, sa.func.substr(image, len(MEDIA_URL) + 1))
        .join(upload, upload.c.id == task.c.upload_id)
        .where(upload.c.format == 'zip', image.startswith(MEDIA_URL))
        .distinct()))


def downgrade() -> None:
    op.drop_index(op.f('ix_media_use_name'), table_name='media_use')
    op.drop_table('media_use')
