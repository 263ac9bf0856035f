"""event_outbox: signed events to the CRM, written with the change that causes them

Revision ID: 0006b
Revises: 0005
Create Date: 2026-11-29 11:50:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0006b'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'event_outbox',
        sa.Column('id', sa.BigInteger(), primary_key=True),
        sa.Column('event_id', sa.String(36), nullable=False),
        sa.Column(
            'campaign_id',
            sa.BigInteger(),
            sa.ForeignKey('campaigns.id', ondelete='CASCADE'),
            nullable=False,
        ),
        sa.Column('contact_id', sa.BigInteger(), nullable=True),
        sa.Column('destination', sa.String(16), nullable=False),
        sa.Column('type', sa.String(32), nullable=False),
        sa.Column('data', postgresql.JSONB(), nullable=False),
        sa.Column(
            'created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column('state', sa.String(16), nullable=False),
        sa.Column(
            'next_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column('tries', sa.Integer(), server_default='0', nullable=False),
        sa.Column('failing_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index(
        'ix_event_outbox_due',
        'event_outbox',
        ['next_at'],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index(
        'ix_event_outbox_line',
        'event_outbox',
        ['campaign_id', 'destination', 'contact_id', 'id'],
        postgresql_where=sa.text("state = 'pending'"),
    )
    op.create_index('ix_event_outbox_campaign', 'event_outbox', ['campaign_id', 'id'])


def downgrade() -> None:
    op.drop_table('event_outbox')
