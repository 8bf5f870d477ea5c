"""A client of the Central Server: contexts (where and as whom), a typed API client, errors.

The CLI's remote commands (``attonix login``, ``context``, ``blueprint``, ``deployment``,
``audit log``) and the tests that drive a real server use the same :class:`Client`. This
package imports neither the server nor FastAPI or a database driver (an import-linter
contract checks it), so a machine that only talks to a server needs ``attonix[client]``.
"""
