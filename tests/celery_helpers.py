"""Point the site's Celery app at another broker inside a test process."""

from kombu import pools

from config.celery import app


def use_broker(url: str) -> None:
    app.conf.broker_url = url
    # Producer pools are cached per connection, globally in kombu and on the app.
    pools.reset()
    app._pool = None
    app.amqp._producer_pool = None
