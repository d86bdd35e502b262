/* OpenSSL, loaded when first needed (dlopen) instead of linked: an idle droverd with no TLS
 * door, no JWT keys and no tokens, and every CLI command that is not remote, never map
 * libcrypto or libssl (1.7 MB of RSS, and their relocations at every start).
 *
 * Include this header instead of OpenSSL's. Every OpenSSL function drover calls is listed
 * below; a call is redirected to a pointer in `ossl_fn`, so the code reads as plain OpenSSL,
 * OpenSSL's own macros (BIO_get_mem_data, SSL_CTX_set_mode, OPENSSL_free) included. Nothing in
 * drover links libcrypto or libssl, so a function called but not listed is an undefined symbol
 * at link time, never a NULL pointer at run time.
 *
 * Before the first call, a caller loads what it needs and reports the error if the library is
 * missing: ossl_load_crypto() for digests, keys and certificates, ossl_load_ssl() for TLS
 * (which loads libcrypto too). Both are cheap once loaded, and not thread-safe: call them from
 * the loop's thread. The libraries stay loaded until exit. */
#pragma once

#include <stddef.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

/* Functions from libcrypto.so.3. */
#define OSSL_CRYPTO_FUNCTIONS(X)                                                                   \
    X(BIO_ctrl)                                                                                    \
    X(BIO_ctrl_pending) X(BIO_free) X(BIO_new) X(BIO_new_file) X(BIO_read) X(BIO_s_mem) X(         \
        BIO_write) X(BN_bin2bn) X(BN_free) X(BN_to_ASN1_INTEGER) X(CRYPTO_free) X(CRYPTO_memcmp)   \
        X(ECDSA_SIG_free) X(ECDSA_SIG_new) X(ECDSA_SIG_set0) X(ERR_clear_error)                    \
            X(ERR_error_string_n) X(ERR_get_error) X(EVP_DecodeBlock) X(EVP_Digest) X(             \
                EVP_DigestVerify) X(EVP_DigestVerifyInit) X(EVP_EncodeBlock) X(EVP_MD_CTX_free)    \
                X(EVP_MD_CTX_new) X(EVP_PKEY_Q_keygen) X(EVP_PKEY_free) X(EVP_PKEY_get_base_id) X( \
                    EVP_PKEY_get_bits) X(EVP_PKEY_get_group_name) X(EVP_sha256) X(HMAC)            \
                    X(OPENSSL_cleanse) X(PEM_read_bio_PUBKEY) X(PEM_read_bio_X509) X(              \
                        PEM_write_bio_PrivateKey) X(PEM_write_bio_X509) X(RAND_bytes) X(SHA1)      \
                        X(SHA256) X(X509V3_EXT_conf_nid) X(X509V3_set_ctx) X(X509_EXTENSION_free)  \
                            X(X509_NAME_add_entry_by_txt) X(X509_NAME_print_ex)                    \
                                X(X509_VERIFY_PARAM_set1_ip_asc) X(X509_VERIFY_PARAM_set_flags)    \
                                    X(X509_add_ext) X(X509_free) X(X509_get_pubkey)                \
                                        X(X509_get_serialNumber) X(X509_get_subject_name)          \
                                            X(X509_getm_notAfter) X(X509_getm_notBefore)           \
                                                X(X509_gmtime_adj) X(X509_new)                     \
                                                    X(X509_set_issuer_name) X(X509_set_pubkey)     \
                                                        X(X509_set_version) X(X509_sign)           \
                                                            X(X509_verify_cert_error_string)       \
                                                                X(i2d_ECDSA_SIG)

/* Functions from libssl.so.3. */
#define OSSL_SSL_FUNCTIONS(X)                                                                      \
    X(SSL_CTX_check_private_key)                                                                   \
    X(SSL_CTX_ctrl) X(SSL_CTX_free) X(SSL_CTX_get0_param) X(SSL_CTX_load_verify_locations)         \
        X(SSL_CTX_new) X(SSL_CTX_set_alpn_protos) X(SSL_CTX_set_alpn_select_cb)                    \
            X(SSL_CTX_set_client_CA_list) X(SSL_CTX_set_client_cert_cb)                            \
                X(SSL_CTX_set_default_verify_paths) X(SSL_CTX_set_options)                         \
                    X(SSL_CTX_set_session_id_context) X(SSL_CTX_set_verify)                        \
                        X(SSL_CTX_use_PrivateKey_file) X(SSL_CTX_use_certificate_chain_file)       \
                            X(SSL_connect) X(SSL_ctrl) X(SSL_do_handshake) X(SSL_free)             \
                                X(SSL_get0_alpn_selected) X(SSL_get0_param)                        \
                                    X(SSL_get0_peer_certificate) X(SSL_get_error)                  \
                                        X(SSL_get_ex_data) X(SSL_get_verify_result)                \
                                            X(SSL_is_init_finished) X(SSL_load_client_CA_file)     \
                                                X(SSL_new) X(SSL_read) X(SSL_select_next_proto)    \
                                                    X(SSL_set1_host) X(SSL_set_accept_state)       \
                                                        X(SSL_set_bio) X(SSL_set_ex_data)          \
                                                            X(SSL_set_fd) X(SSL_shutdown)          \
                                                                X(SSL_write) X(TLS_client_method)  \
                                                                    X(TLS_server_method)

struct ossl_functions {
#define OSSL_FIELD(name) __typeof__(name) *name;
    OSSL_CRYPTO_FUNCTIONS(OSSL_FIELD)
    OSSL_SSL_FUNCTIONS(OSSL_FIELD)
#undef OSSL_FIELD
};

extern struct ossl_functions ossl_fn;

/* Loads libcrypto (ossl_load_crypto) or libssl and libcrypto (ossl_load_ssl) if not yet
 * loaded. 0, or -1 with a message naming the library and its Debian package in err. */
int ossl_load_crypto(char *err, size_t size);
int ossl_load_ssl(char *err, size_t size);

#ifndef OSSL_NO_REDIRECT
#define BIO_ctrl                           (ossl_fn.BIO_ctrl)
#define BIO_ctrl_pending                   (ossl_fn.BIO_ctrl_pending)
#define BIO_free                           (ossl_fn.BIO_free)
#define BIO_new                            (ossl_fn.BIO_new)
#define BIO_new_file                       (ossl_fn.BIO_new_file)
#define BIO_read                           (ossl_fn.BIO_read)
#define BIO_s_mem                          (ossl_fn.BIO_s_mem)
#define BIO_write                          (ossl_fn.BIO_write)
#define BN_bin2bn                          (ossl_fn.BN_bin2bn)
#define BN_free                            (ossl_fn.BN_free)
#define BN_to_ASN1_INTEGER                 (ossl_fn.BN_to_ASN1_INTEGER)
#define CRYPTO_free                        (ossl_fn.CRYPTO_free)
#define CRYPTO_memcmp                      (ossl_fn.CRYPTO_memcmp)
#define ECDSA_SIG_free                     (ossl_fn.ECDSA_SIG_free)
#define ECDSA_SIG_new                      (ossl_fn.ECDSA_SIG_new)
#define ECDSA_SIG_set0                     (ossl_fn.ECDSA_SIG_set0)
#define ERR_clear_error                    (ossl_fn.ERR_clear_error)
#define ERR_error_string_n                 (ossl_fn.ERR_error_string_n)
#define ERR_get_error                      (ossl_fn.ERR_get_error)
#define EVP_DecodeBlock                    (ossl_fn.EVP_DecodeBlock)
#define EVP_Digest                         (ossl_fn.EVP_Digest)
#define EVP_DigestVerify                   (ossl_fn.EVP_DigestVerify)
#define EVP_DigestVerifyInit               (ossl_fn.EVP_DigestVerifyInit)
#define EVP_EncodeBlock                    (ossl_fn.EVP_EncodeBlock)
#define EVP_MD_CTX_free                    (ossl_fn.EVP_MD_CTX_free)
#define EVP_MD_CTX_new                     (ossl_fn.EVP_MD_CTX_new)
#define EVP_PKEY_Q_keygen                  (ossl_fn.EVP_PKEY_Q_keygen)
#define EVP_PKEY_free                      (ossl_fn.EVP_PKEY_free)
#define EVP_PKEY_get_base_id               (ossl_fn.EVP_PKEY_get_base_id)
#define EVP_PKEY_get_bits                  (ossl_fn.EVP_PKEY_get_bits)
#define EVP_PKEY_get_group_name            (ossl_fn.EVP_PKEY_get_group_name)
#define EVP_sha256                         (ossl_fn.EVP_sha256)
#define HMAC                               (ossl_fn.HMAC)
#define OPENSSL_cleanse                    (ossl_fn.OPENSSL_cleanse)
#define PEM_read_bio_PUBKEY                (ossl_fn.PEM_read_bio_PUBKEY)
#define PEM_read_bio_X509                  (ossl_fn.PEM_read_bio_X509)
#define PEM_write_bio_PrivateKey           (ossl_fn.PEM_write_bio_PrivateKey)
#define PEM_write_bio_X509                 (ossl_fn.PEM_write_bio_X509)
#define RAND_bytes                         (ossl_fn.RAND_bytes)
#define SHA1                               (ossl_fn.SHA1)
#define SHA256                             (ossl_fn.SHA256)
#define X509V3_EXT_conf_nid                (ossl_fn.X509V3_EXT_conf_nid)
#define X509V3_set_ctx                     (ossl_fn.X509V3_set_ctx)
#define X509_EXTENSION_free                (ossl_fn.X509_EXTENSION_free)
#define X509_NAME_add_entry_by_txt         (ossl_fn.X509_NAME_add_entry_by_txt)
#define X509_NAME_print_ex                 (ossl_fn.X509_NAME_print_ex)
#define X509_VERIFY_PARAM_set1_ip_asc      (ossl_fn.X509_VERIFY_PARAM_set1_ip_asc)
#define X509_VERIFY_PARAM_set_flags        (ossl_fn.X509_VERIFY_PARAM_set_flags)
#define X509_add_ext                       (ossl_fn.X509_add_ext)
#define X509_free                          (ossl_fn.X509_free)
#define X509_get_pubkey                    (ossl_fn.X509_get_pubkey)
#define X509_get_serialNumber              (ossl_fn.X509_get_serialNumber)
#define X509_get_subject_name              (ossl_fn.X509_get_subject_name)
#define X509_getm_notAfter                 (ossl_fn.X509_getm_notAfter)
#define X509_getm_notBefore                (ossl_fn.X509_getm_notBefore)
#define X509_gmtime_adj                    (ossl_fn.X509_gmtime_adj)
#define X509_new                           (ossl_fn.X509_new)
#define X509_set_issuer_name               (ossl_fn.X509_set_issuer_name)
#define X509_set_pubkey                    (ossl_fn.X509_set_pubkey)
#define X509_set_version                   (ossl_fn.X509_set_version)
#define X509_sign                          (ossl_fn.X509_sign)
#define X509_verify_cert_error_string      (ossl_fn.X509_verify_cert_error_string)
#define i2d_ECDSA_SIG                      (ossl_fn.i2d_ECDSA_SIG)
#define SSL_CTX_check_private_key          (ossl_fn.SSL_CTX_check_private_key)
#define SSL_CTX_ctrl                       (ossl_fn.SSL_CTX_ctrl)
#define SSL_CTX_free                       (ossl_fn.SSL_CTX_free)
#define SSL_CTX_get0_param                 (ossl_fn.SSL_CTX_get0_param)
#define SSL_CTX_load_verify_locations      (ossl_fn.SSL_CTX_load_verify_locations)
#define SSL_CTX_new                        (ossl_fn.SSL_CTX_new)
#define SSL_CTX_set_alpn_protos            (ossl_fn.SSL_CTX_set_alpn_protos)
#define SSL_CTX_set_alpn_select_cb         (ossl_fn.SSL_CTX_set_alpn_select_cb)
#define SSL_CTX_set_client_CA_list         (ossl_fn.SSL_CTX_set_client_CA_list)
#define SSL_CTX_set_client_cert_cb         (ossl_fn.SSL_CTX_set_client_cert_cb)
#define SSL_CTX_set_default_verify_paths   (ossl_fn.SSL_CTX_set_default_verify_paths)
#define SSL_CTX_set_options                (ossl_fn.SSL_CTX_set_options)
#define SSL_CTX_set_session_id_context     (ossl_fn.SSL_CTX_set_session_id_context)
#define SSL_CTX_set_verify                 (ossl_fn.SSL_CTX_set_verify)
#define SSL_CTX_use_PrivateKey_file        (ossl_fn.SSL_CTX_use_PrivateKey_file)
#define SSL_CTX_use_certificate_chain_file (ossl_fn.SSL_CTX_use_certificate_chain_file)
#define SSL_connect                        (ossl_fn.SSL_connect)
#define SSL_ctrl                           (ossl_fn.SSL_ctrl)
#define SSL_do_handshake                   (ossl_fn.SSL_do_handshake)
#define SSL_free                           (ossl_fn.SSL_free)
#define SSL_get0_alpn_selected             (ossl_fn.SSL_get0_alpn_selected)
#define SSL_get0_param                     (ossl_fn.SSL_get0_param)
#define SSL_get0_peer_certificate          (ossl_fn.SSL_get0_peer_certificate)
#define SSL_get_error                      (ossl_fn.SSL_get_error)
#define SSL_get_ex_data                    (ossl_fn.SSL_get_ex_data)
#define SSL_get_verify_result              (ossl_fn.SSL_get_verify_result)
#define SSL_is_init_finished               (ossl_fn.SSL_is_init_finished)
#define SSL_load_client_CA_file            (ossl_fn.SSL_load_client_CA_file)
#define SSL_new                            (ossl_fn.SSL_new)
#define SSL_read                           (ossl_fn.SSL_read)
#define SSL_select_next_proto              (ossl_fn.SSL_select_next_proto)
#define SSL_set1_host                      (ossl_fn.SSL_set1_host)
#define SSL_set_accept_state               (ossl_fn.SSL_set_accept_state)
#define SSL_set_bio                        (ossl_fn.SSL_set_bio)
#define SSL_set_ex_data                    (ossl_fn.SSL_set_ex_data)
#define SSL_set_fd                         (ossl_fn.SSL_set_fd)
#define SSL_shutdown                       (ossl_fn.SSL_shutdown)
#define SSL_write                          (ossl_fn.SSL_write)
#define TLS_client_method                  (ossl_fn.TLS_client_method)
#define TLS_server_method                  (ossl_fn.TLS_server_method)
#endif
