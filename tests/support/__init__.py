"""What the tests share, and the benchmarks may use too (nothing here imports bench/):

- base.py: MusterTestCase, the people and organisations most tests start from;
- factories.py: test data, built through the services as the application builds it;
- web.py: the links in emails, posting as a browser does, and the clocks tests freeze;
- cache.py: emptying this run's cache without touching anyone else's;
- mock_esp.py: a local ESP that anymail's Mailgun and Postmark backends post to unchanged;
  its faults (errors, hangs, dropped connections, search lag) are seeded and counted;
- faults.py: BlipProxy, a TCP proxy to PostgreSQL or Redis that cuts connections on demand;
- workers.py: real Celery worker processes that can be stopped and killed.
"""
