/* roost-mkcert.c - make a self-signed TLS certificate for a development instance.
 *
 * SYNOPSIS
 *     roost-mkcert [-f] [-d days] [-n name] [-t ec|rsa] CERTFILE KEYFILE
 *
 * DESCRIPTION
 *     Writes a new private key to KEYFILE (mode 0600) and a self-signed
 *     certificate for it to CERTFILE, for tls_server_cert/tls_server_key of
 *     a development or test instance (`make run` calls it when var/tls/ is
 *     empty).  The certificate's CN is name (default: this host's name) and
 *     its subjectAltName covers localhost, name, 127.0.0.1 and ::1.
 *
 *     -d days   validity (default 825)
 *     -n name   CN and extra subjectAltName (host name or IP address)
 *     -t type   ec (P-256, the default) or rsa (2048 bits)
 *     -f        replace existing files (otherwise they are left alone and
 *               the command fails)
 *
 * DIAGNOSTICS
 *     Exit status 0 on success; 1 with a message on stderr when anything
 *     fails (nothing is left half-written); 64 for a usage error.
 */
#include "str.h"
#include "tls_cert.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MKCERT_DEFAULT_DAYS 825

static void usage(void)
{
    fprintf(stderr,
            "usage: roost-mkcert [-f] [-d days] [-n name] [-t ec|rsa] CERTFILE KEYFILE\n");
}

int main(int argc, char **argv)
{
    unsigned days = MKCERT_DEFAULT_DAYS;
    const char *name = NULL;
    enum tls_cert_key_type type = TLS_CERT_KEY_EC;
    bool overwrite = false;
    int c;

    while ((c = getopt(argc, argv, "d:fn:t:h")) != -1) {
        switch (c) {
        case 'd': {
            uint64_t v;
            if (str_to_u64(optarg, TLS_CERT_MAX_DAYS, &v) < 0 || v == 0) {
                fprintf(stderr, "roost-mkcert: -d: expected 1 to %d days\n", TLS_CERT_MAX_DAYS);
                return 64;
            }
            days = (unsigned)v;
            break;
        }
        case 'f':
            overwrite = true;
            break;
        case 'n':
            name = optarg;
            break;
        case 't':
            if (strcmp(optarg, "ec") == 0)
                type = TLS_CERT_KEY_EC;
            else if (strcmp(optarg, "rsa") == 0)
                type = TLS_CERT_KEY_RSA;
            else {
                fprintf(stderr, "roost-mkcert: -t: expected ec or rsa\n");
                return 64;
            }
            break;
        case 'h':
            usage();
            return 0;
        default:
            usage();
            return 64;
        }
    }
    if (argc - optind != 2) {
        usage();
        return 64;
    }

    char host[256];
    if (name == NULL) {
        if (gethostname(host, sizeof(host)) == 0) {
            host[sizeof(host) - 1] = '\0';
            name = host;
        }
        /* A host name we cannot put in a certificate: use localhost. */
        if (name == NULL || !tls_cert_name_valid(name))
            name = "localhost";
    }

    const char *error;
    if (tls_cert_generate(argv[optind], argv[optind + 1], name, days, type, overwrite,
                          &error) < 0) {
        fprintf(stderr, "roost-mkcert: %s\n", error);
        return 1;
    }
    printf("roost-mkcert: wrote %s and %s (CN=%s, %u days)\n", argv[optind], argv[optind + 1],
           name, days);
    return 0;
}
