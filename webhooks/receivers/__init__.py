"""Webhook receivers: WooCommerce (/webhooks/woocommerce), Cal.com and Calendly
(/webhooks/calcom, /webhooks/calendly).

Each checks the signature over the raw body, commits the delivery to the inbox before the 2xx
and leaves the processing to the app's processor; unsigned requests are only counted
(``rejections``). Nothing here imports the other audiences (api, console, public).
"""

from webhooks.receivers.bookings import blueprint as booking_receivers
from webhooks.receivers.woocommerce import blueprint as woocommerce_receiver

__all__ = ["booking_receivers", "woocommerce_receiver"]
