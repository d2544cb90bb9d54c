// SPDX-License-Identifier: GPL-2.0
/*
 * The packaged binary links libmicrohttpd statically (tools/deb/build.sh).
 * Debian's libmicrohttpd.a is built with HTTPS support, so it references
 * GnuTLS, whose static archive needs libunistring and p11-kit, which ship
 * none.  bbscope never asks for TLS (no MHD_USE_TLS: the Prometheus
 * endpoint is plain HTTP on a local address), so the TLS paths are
 * unreachable: these stand-ins satisfy the linker, succeed at the library's
 * global init and fail everything else with GnuTLS's "unimplemented
 * feature".  Called with other arguments than they are declared with: each
 * ignores its arguments and returns an int in a register, which the
 * x86-64 and arm64 calling conventions allow.
 */
#include <stdlib.h>

#define BBS_GNUTLS_E_UNIMPLEMENTED_FEATURE (-1250)

int gnutls_global_init(void);
void gnutls_global_deinit(void);
const char *gnutls_strerror(int err);
void *(*gnutls_malloc)(size_t) = malloc;

int gnutls_global_init(void)
{
	return 0;
}

void gnutls_global_deinit(void)
{
}

const char *gnutls_strerror(int err)
{
	return "TLS is not built into this bbscope";
}

#define STUB(name)                                         \
	int name(void);                                    \
	int name(void)                                     \
	{                                                  \
		return BBS_GNUTLS_E_UNIMPLEMENTED_FEATURE; \
	}
STUB(gnutls_alpn_set_protocols)
STUB(gnutls_bye)
STUB(gnutls_certificate_allocate_credentials)
STUB(gnutls_certificate_free_credentials)
STUB(gnutls_certificate_server_set_request)
STUB(gnutls_certificate_set_dh_params)
STUB(gnutls_certificate_set_retrieve_function2)
STUB(gnutls_certificate_set_retrieve_function3)
STUB(gnutls_certificate_set_x509_key_mem)
STUB(gnutls_certificate_set_x509_key_mem2)
STUB(gnutls_certificate_set_x509_trust_mem)
STUB(gnutls_cipher_get)
STUB(gnutls_credentials_set)
STUB(gnutls_deinit)
STUB(gnutls_dh_params_deinit)
STUB(gnutls_dh_params_import_pkcs3)
STUB(gnutls_dh_params_init)
STUB(gnutls_handshake)
STUB(gnutls_init)
STUB(gnutls_priority_deinit)
STUB(gnutls_priority_init)
STUB(gnutls_priority_set)
STUB(gnutls_protocol_get_version)
STUB(gnutls_psk_allocate_server_credentials)
STUB(gnutls_psk_free_server_credentials)
STUB(gnutls_psk_set_server_credentials_function)
STUB(gnutls_record_check_pending)
STUB(gnutls_record_get_direction)
STUB(gnutls_record_recv)
STUB(gnutls_record_send)
STUB(gnutls_session_get_ptr)
STUB(gnutls_session_set_ptr)
STUB(gnutls_transport_set_int2)
