INSERT INTO workers (id, name, host, pid, version, slots)
VALUES (%(id)s, %(name)s, %(host)s, %(pid)s, %(version)s, %(slots)s)
