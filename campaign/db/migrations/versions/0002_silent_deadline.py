"""attempts.silent_deadline_at: when an attempt that heard nothing settles

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 08:30:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('attempts', sa.Column('silent_deadline_at', sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        'ix_attempts_silent', 'attempts', ['silent_deadline_at'], unique=False,
        postgresql_where=sa.text("state IN ('sending','accepted')"),
    )


def downgrade() -> None:
    op.drop_index('ix_attempts_silent', table_name='attempts', postgresql_where=sa.text("state IN ('sending','accepted')"))
    op.drop_column('attempts', 'silent_deadline_at')
