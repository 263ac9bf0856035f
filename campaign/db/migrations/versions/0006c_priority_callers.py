"""priority in the due-contacts index; attempts.caller and the per-caller daily count index

Revision ID: 0006c
Revises: 0005
Create Date: 2026-11-29 12:00:00
"""

from alembic import op
import sqlalchemy as sa

revision = '0006c'
down_revision = '0005'
branch_labels = None
depends_on = None

_PENDING = "state = 'pending'"
_CALLER_CALLS = "caller IS NOT NULL AND sending_at IS NOT NULL"


def upgrade() -> None:
    op.drop_index('ix_contacts_due', table_name='contacts', postgresql_where=sa.text(_PENDING))
    op.create_index(
        'ix_contacts_due', 'contacts',
        ['campaign_id', sa.text('priority DESC'), 'next_due_at'], unique=False,
        postgresql_where=sa.text(_PENDING),
    )
    op.add_column('attempts', sa.Column('caller', sa.String(length=20), nullable=True))
    op.create_index(
        'ix_attempts_caller_calls', 'attempts', ['campaign_id', 'caller', 'sending_at'],
        unique=False, postgresql_where=sa.text(_CALLER_CALLS),
    )


def downgrade() -> None:
    op.drop_index('ix_attempts_caller_calls', table_name='attempts')
    op.drop_column('attempts', 'caller')
    op.drop_index('ix_contacts_due', table_name='contacts')
    op.create_index(
        'ix_contacts_due', 'contacts', ['campaign_id', 'next_due_at'], unique=False,
        postgresql_where=sa.text(_PENDING),
    )
