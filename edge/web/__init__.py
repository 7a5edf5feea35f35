"""Pages on the network: the access token (access), the page server every page runs on
(server: timeouts, capped clients) and the live web view of edge.camera (webview)."""
