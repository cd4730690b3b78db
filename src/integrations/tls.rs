//! The process's TLS provider.

/// Installs ring as the process's TLS provider (once; later calls do nothing). Every HTTPS
/// client needs it: reqwest is built without a provider of its own.
pub fn install_tls() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // Fails only if another provider was installed first, which is as good.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}
