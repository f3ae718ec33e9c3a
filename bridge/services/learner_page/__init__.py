"""The learner's own page (``/me/<token>``) and calendar feed, and handing the link out.

What the page shows, worded in the shop's locale, currency and time zone (``page``, with
Babel's formatters in ``formats``); the calendar feed of cohort sessions and booked mentor
sessions (``calendar``, RFC 5545 by ``icalendar``); the link as the console and the CLI show it
and re-sent as a customer note (``sharing``). The link tokens themselves are
bridge.services.learner_links.

Other features, webhooks/, sync/ and bridge/cli/ import the names below from this package, never
one of its modules.
"""

from bridge.services.learner_page.calendar import learner_calendar
from bridge.services.learner_page.formats import Formats
from bridge.services.learner_page.page import formats_for, page_view
from bridge.services.learner_page.sharing import (
    LinkNotSent,
    LinkSent,
    latest_order,
    link_status,
    resend_page_link,
)

__all__ = [
    "Formats",
    "LinkNotSent",
    "LinkSent",
    "formats_for",
    "latest_order",
    "learner_calendar",
    "link_status",
    "page_view",
    "resend_page_link",
]
