"""The program's members as the panel lists them: search by name or email, sort by balance,
points earned or last activity, a page at a time. Scoped to one shop; each sort is served
by an index that starts with the shop (`ix_customers_shop_points_balance`,
`ix_loyalty_members_shop_earned`, `ix_loyalty_members_shop_activity`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from app.loyalty.models import LoyaltyMember
from app.profiles.models import Customer

PAGE_SIZE = 50
MAX_PAGE = 100_000
MAX_SEARCH = 255
SORTS = {"balance": Customer.points_balance, "earned": LoyaltyMember.lifetime_points,
         "last_activity": LoyaltyMember.last_activity_at}
DEFAULT_SORT = "-last_activity"
_full_name = func.nullif(func.trim(
    func.coalesce(Customer.first_name, "") + " " + func.coalesce(Customer.last_name, "")), "")


@dataclass(frozen=True)
class MemberRow:
    customer_id: int
    name: str | None
    email: str | None
    balance: int
    pending: int
    tier: str | None
    earned: int
    last_activity_at: datetime | None
    enrolled_at: datetime


@dataclass(frozen=True)
class MemberPage:
    rows: list[MemberRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first_index(self) -> int:
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last_index(self) -> int:
        return self.first_index + len(self.rows) - 1 if self.rows else 0


def parse_query(args: Mapping[str, str]) -> tuple[str, str, int, dict[str, str]]:
    """(search, sort, page, errors) from a query string; a wrong value falls back to its
    default and says why."""
    errors: dict[str, str] = {}
    q = (args.get("q") or "").strip()
    if len(q) > MAX_SEARCH:
        errors["q"] = f"Search for at most {MAX_SEARCH} characters."
        q = ""
    sort = args.get("sort") or DEFAULT_SORT
    if sort.lstrip("-") not in SORTS:
        errors["sort"] = ("Sort by one of " + ", ".join(SORTS) + " (a leading - for "
                          "largest or newest first).")
        sort = DEFAULT_SORT
    raw_page = (args.get("page") or "1").strip()
    page = int(raw_page) if raw_page.isascii() and raw_page.isdigit() and len(raw_page) < 7 \
        else 0
    if not 1 <= page <= MAX_PAGE:
        errors["page"] = f"Pages are numbered from 1 to {MAX_PAGE:,}."
        page = 1
    return q, sort, page, errors


def list_members(session: Session, shop_id: int, *, q: str = "", sort: str = DEFAULT_SORT,
                 page: int = 1, per_page: int = PAGE_SIZE) -> MemberPage:
    where = [LoyaltyMember.shop_id == shop_id, Customer.shop_id == shop_id,
             Customer.deleted_at.is_(None)]
    if q:
        needle = q.lower()
        where.append(or_(Customer.email_normalized.contains(needle, autoescape=True),
                         func.lower(_full_name).contains(needle, autoescape=True)))
    base = select(LoyaltyMember).join(Customer, Customer.id == LoyaltyMember.customer_id) \
        .where(*where)
    total = session.execute(select(func.count()).select_from(base.subquery())).scalar_one()
    column = SORTS[sort.lstrip("-")]
    descending = sort.startswith("-")
    first = column.desc() if descending else column.asc()
    if column is LoyaltyMember.last_activity_at:
        first = first.nulls_last()  # never active goes last either way
    # The profile id makes the order total, so a page boundary never moves.
    order = [first, Customer.id.desc() if descending else Customer.id.asc()]
    rows = session.execute(
        select(Customer.id, _full_name.label("name"), Customer.email, Customer.points_balance,
               LoyaltyMember.pending_points, LoyaltyMember.tier, LoyaltyMember.lifetime_points,
               LoyaltyMember.last_activity_at, LoyaltyMember.enrolled_at)
        .join(LoyaltyMember, LoyaltyMember.customer_id == Customer.id)
        .where(*where).order_by(*order).offset((page - 1) * per_page).limit(per_page)).all()
    return MemberPage([MemberRow(*row) for row in rows], total, page, per_page)
