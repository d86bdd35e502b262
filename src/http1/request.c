/* What a handler reads of its request: method, path, query, headers, body. */
#include "http1/http1-internal.h"

#include <string.h>
#include <strings.h>

struct net_conn *http_request_conn(const struct http_request *r)
{
    return r->c->conn;
}

const char *http_request_method(const struct http_request *r)
{
    return http_method_str((enum http_method)r->c->parser.method);
}

const char *http_request_path(const struct http_request *r)
{
    const struct http_conn *c = r->c;
    const char *base = (const char *)buf_head(&c->head);
    return base && c->path ? base + c->path : "";
}

static int unhex(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

size_t http_request_target_len(const struct http_request *r)
{
    return r->c->url_len;
}

const char *http_request_query(const struct http_request *r, const char *name, char *buf,
                               size_t size)
{
    const char *url = (const char *)buf_head(&r->c->head);
    if (!url || !size)
        return NULL;
    const char *end = url + r->c->url_len, *q = memchr(url, '?', r->c->url_len);
    if (!q)
        return NULL;
    q++;
    const char *hash = memchr(q, '#', (size_t)(end - q));
    if (hash)
        end = hash;
    size_t nlen = strlen(name);
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q)), *e = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(e - q));
        size_t klen = (size_t)((eq ? eq : e) - q);
        if (klen == nlen && !memcmp(q, name, nlen)) {
            size_t k = 0;
            for (const char *v = eq ? eq + 1 : e; v < e && k + 1 < size; v++) {
                int hi, lo;
                if (*v == '%' && v + 2 < e && (hi = unhex(v[1])) >= 0 && (lo = unhex(v[2])) >= 0) {
                    buf[k++] = (char)(hi * 16 + lo);
                    v += 2;
                } else {
                    buf[k++] = *v == '+' ? ' ' : *v;
                }
            }
            buf[k] = '\0';
            return buf;
        }
        q = e + 1;
    }
    return NULL;
}

const char *http_request_header(const struct http_request *r, const char *name)
{
    const struct http_conn *c = r->c;
    const char *base = (const char *)buf_head(&c->head);
    size_t n = strlen(name);
    for (size_t i = 0; base && i < c->n_hdrs; i++) {
        const struct hdr *h = &c->hdrs[i];
        if (h->name_len == n && !strncasecmp(base + h->name, name, n))
            return h->value ? base + h->value : "";
    }
    return NULL;
}

bool http_request_header_at(const struct http_request *r, size_t i, const char **ret_name,
                            size_t *ret_name_len, const char **ret_value)
{
    const struct http_conn *c = r->c;
    const char *base = (const char *)buf_head(&c->head);
    if (!base || i >= c->n_hdrs)
        return false;
    const struct hdr *h = &c->hdrs[i];
    *ret_name = base + h->name;
    *ret_name_len = h->name_len;
    *ret_value = h->value ? base + h->value : "";
    return true;
}

bool http_request_accepts_gzip(const struct http_request *r)
{
    const char *v = http_request_header(r, "Accept-Encoding");
    while (v && *v) {
        v += strspn(v, " ,");
        size_t n = strcspn(v, ",");
        if (n >= 4 && !strncasecmp(v, "gzip", 4) && (n == 4 || v[4] == ';' || v[4] == ' ')) {
            /* Refused only by its own weight "q=0" (or 0.0...), not by another coding's. */
            const char *q = memmem(v, n, "q=", 2);
            if (!q)
                return true;
            for (q += 2; q < v + n && (*q == '0' || *q == '.'); q++)
                ;
            return q < v + n && *q >= '1' && *q <= '9';
        }
        v += n;
    }
    return false;
}

const void *http_request_body(const struct http_request *r, size_t *ret_len)
{
    *ret_len = r->c->body.len;
    return r->c->body.len ? (const void *)buf_head(&r->c->body) : "";
}
