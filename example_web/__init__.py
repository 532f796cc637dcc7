"""example_web: the Next.js calling side of claimguard, its local tenant and launcher.

The Python here is only the launcher (:mod:`example_web.launch`), shared by
``make demo-web`` and the browser tests; the app itself is TypeScript.
"""
