"""account policy, audit trail, contacts' region and consent, per-number call indexes

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-01 09:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0004'
down_revision = '0002'
branch_labels = None
depends_on = None

_OPEN = "state IN ('queued','dialing','sending','accepted','answered')"
_PLACED = "sending_at IS NOT NULL AND state <> 'error'"


def upgrade() -> None:
    op.add_column('contacts', sa.Column('region', sa.String(length=8), nullable=True))
    op.add_column('contacts', sa.Column('consent', sa.Boolean(), nullable=True))
    op.add_column('contacts', sa.Column('consent_on', sa.Date(), nullable=True))
    op.create_index(
        'ix_attempts_phone_calls', 'attempts', ['phone', 'sending_at'], unique=False,
        postgresql_where=sa.text(_PLACED),
    )
    op.create_index(
        'ix_attempts_phone_open', 'attempts', ['phone'], unique=False,
        postgresql_where=sa.text(_OPEN),
    )
    op.create_table(
        'account_policies',
        sa.Column('version', sa.BigInteger(), nullable=False),
        sa.Column('document', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('applied_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('applied_by', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('version'),
    )
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.Column('actor', sa.Text(), nullable=False),
        sa.Column('action', sa.String(length=32), nullable=False),
        sa.Column('campaign_id', sa.BigInteger(), nullable=True),
        sa.Column('before', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('after', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column('detail', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_audit_log_at', 'audit_log', ['at'], unique=False)
    op.create_index('ix_audit_log_campaign', 'audit_log', ['campaign_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_log_campaign', table_name='audit_log')
    op.drop_index('ix_audit_log_at', table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_table('account_policies')
    op.drop_index('ix_attempts_phone_open', table_name='attempts', postgresql_where=sa.text(_OPEN))
    op.drop_index('ix_attempts_phone_calls', table_name='attempts', postgresql_where=sa.text(_PLACED))
    op.drop_column('contacts', 'consent_on')
    op.drop_column('contacts', 'consent')
    op.drop_column('contacts', 'region')
