"""Pages on the network: the access token (access), the page server every page runs on
(server: timeouts, capped clients; error_page: what a refused request reads), joining from a
phone (join: HOSTNAME.local and a QR code) and the live web view of edge.camera (webview, its
page in webview_page)."""
