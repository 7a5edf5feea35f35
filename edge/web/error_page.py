"""The page a refused or failed request gets: readable on a phone, saying what to do.

http.server's own error page is laid out for a 980 px desktop and explains a 401 as "No
permission -- see authorization schemes". This one has a viewport, large type and the
reason alone (edge.web.access says where the token is). PageHandler uses it for every error.
"""

ERROR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>%(code)d %(message)s</title>
<style>
body { background: #111; color: #eee; font: 18px sans-serif; margin: 0 auto; padding: 1em;
       max-width: 40em; overflow-wrap: anywhere; }
h1 { font-size: 1.3em; color: #fff; }
</style></head>
<body><h1>%(code)d</h1><p id="reason">%(message)s</p></body></html>
"""
