/* Reason phrases for the statuses we generate or validate. */
#include "config.h"

#include "http.h"

#include <stdio.h>

const char *fw_http_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    default: return "Unknown";
    }
}

size_t fw_http_error_response(int status, char *buf, size_t size)
{
    const char *reason = fw_http_reason(status);
    char body[128];
    int blen = snprintf(body, sizeof(body), "%d %s\n", status, reason);
    int n = snprintf(buf, size,
                     "Status: %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
                     "Content-Length: %d\r\n\r\n%s",
                     status, reason, blen, body);
    if (n < 0)
        return 0;
    return (size_t)n < size ? (size_t)n : size - 1;
}
