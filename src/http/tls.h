/* Native HTTPS through libmicrohttpd's GnuTLS (http/ internal): the
 * certificate chain and key are handed to GnuTLS per handshake by a
 * callback, so SIGHUP can replace them without touching a connection. */
#ifndef JP_HTTP_TLS_H
#define JP_HTTP_TLS_H

#include <stddef.h>

/* TLS 1.2 and 1.3 only (Debian's default priorities allow older ones);
 * TLS 1.3 has no renegotiation, and libmicrohttpd never performs one. */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct http_tls;

/* Reads the PEM certificate chain and key and checks that they match. One
 * per process (GnuTLS's callback takes no context). NULL with the reason in
 * err. */
struct http_tls *tls_new(const char *cert_path, const char *key_path, char *err, size_t cap);
/* Reads the files again; new handshakes use them, connections keep theirs.
 * 0, or -1 with the reason in err (the previous pair stays). */
int tls_reload(struct http_tls *t, char *err, size_t cap);
void tls_free(struct http_tls *t);
/* The retrieve function for MHD_OPTION_HTTPS_CERT_CALLBACK. */
void *tls_cert_callback(void);

#endif
