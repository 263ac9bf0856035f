"""dispositions: what the bot (or an operator) said a call came to, on the attempt and the contact

Revision ID: 0006a
Revises: 0005
Create Date: 2026-11-29 12:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006a'
down_revision = '0005'
branch_labels = None
depends_on = None

_OPEN_CONTACT = "state IN ('pending','in_flight')"


def upgrade() -> None:
    op.add_column('attempts', sa.Column('disposition', sa.String(length=16), nullable=True))
    op.add_column('attempts', sa.Column('disposition_label', sa.Text(), nullable=True))
    op.add_column('attempts', sa.Column('disposition_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('attempts', sa.Column('disposed_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        'attempts',
        sa.Column('disposition_detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    )
    op.add_column('contacts', sa.Column('disposition', sa.String(length=16), nullable=True))
    op.create_index(
        'ix_contacts_campaign_disposition', 'contacts', ['campaign_id', 'disposition'],
        unique=False, postgresql_where=sa.text('disposition IS NOT NULL'),
    )
    op.create_index(
        'ix_contacts_phone_open', 'contacts', ['phone'], unique=False,
        postgresql_where=sa.text(_OPEN_CONTACT),
    )


def downgrade() -> None:
    op.drop_index('ix_contacts_phone_open', table_name='contacts')
    op.drop_index('ix_contacts_campaign_disposition', table_name='contacts')
    op.drop_column('contacts', 'disposition')
    for column in ('disposition_detail', 'disposed_at', 'disposition_at', 'disposition_label',
                   'disposition'):
        op.drop_column('attempts', column)
