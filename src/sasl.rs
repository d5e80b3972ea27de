//! SASL EXTERNAL for AMQP 1.0 connections: the broker takes the user from
//! the TLS client certificate (AMQP 1.0 part 5.3, RFC 4422 appendix A).
//!
//! fe2o3-amqp 0.18's own EXTERNAL profile sends its `sasl-init` without an
//! initial response, which RabbitMQ 3.10's AMQP 1.0 plugin refuses
//! (`unexpected_1_0_sasl_frame` in its log). [`external`] runs the SASL
//! layer itself with an empty initial response, as qpid-proton does, on the
//! stream fe2o3-amqp then opens the AMQP connection on (without a SASL
//! profile of its own, so it starts with the AMQP protocol header, which is
//! what follows a completed SASL exchange).

use anyhow::{Result, anyhow};
use bytes::BytesMut;
use fe2o3_amqp::frames::sasl::{Frame, FrameCodec};
use fe2o3_amqp::types::primitives::{Binary, Symbol};
use fe2o3_amqp::types::sasl::{SaslCode, SaslInit};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{Decoder, Encoder};

use crate::amqp::Refused;

/// The SASL protocol header (protocol id 3, version 1.0.0).
const SASL_HEADER: [u8; 8] = *b"AMQP\x03\x01\x00\x00";
/// Largest SASL frame accepted from the broker, in bytes (the spec's
/// minimum max-frame-size during SASL is 512; a mechanisms list is small).
const MAX_SASL_FRAME: u32 = 65_536;

/// Runs a SASL EXTERNAL exchange on `stream` (normally TLS with a client
/// certificate), naming `hostname` in the `sasl-init`. `shown` is the
/// endpoint as it may be displayed (no password), used in error texts.
///
/// Errors: [`Refused`] when the broker does not offer EXTERNAL (the
/// mechanisms it offers are listed) or its `sasl-outcome` is not `ok`;
/// the [`std::io::Error`] itself for an I/O failure (so a caller can tell a
/// TLS alert); a plain error for a peer that does not speak AMQP SASL.
pub async fn external<S>(stream: &mut S, hostname: &str, shown: &str) -> Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    stream.write_all(&SASL_HEADER).await?;
    stream.flush().await?;
    let mut header = [0u8; 8];
    stream.read_exact(&mut header).await?;
    if header != SASL_HEADER {
        return Err(Refused(format!(
            "{shown} does not offer SASL (it answered with protocol header {})",
            crate::sanitize::preview(&header, 16)
        ))
        .into());
    }
    let offered = match read_frame(stream, shown).await? {
        Frame::Mechanisms(m) => m.sasl_server_mechanisms.0,
        other => return Err(anyhow!("{shown}: expected sasl-mechanisms, got {other:?}")),
    };
    if !offered.iter().any(|m| m.as_str() == "EXTERNAL") {
        let names: Vec<&str> = offered.iter().map(|m| m.as_str()).collect();
        return Err(Refused(format!(
            "{shown} does not offer SASL EXTERNAL (it offers {}); RabbitMQ needs the \
             rabbitmq_auth_mechanism_ssl plugin and EXTERNAL in auth_mechanisms",
            crate::sanitize::preview(names.join(" ").as_bytes(), 120)
        ))
        .into());
    }
    let init = Frame::Init(SaslInit {
        mechanism: Symbol::from("EXTERNAL"),
        // empty: the authorization identity is the one the certificate names
        initial_response: Some(Binary::from(Vec::new())),
        hostname: Some(hostname.to_owned()),
    });
    let mut body = BytesMut::new();
    FrameCodec {}
        .encode(init, &mut body)
        .map_err(|e| anyhow!("{shown}: cannot encode sasl-init: {e}"))?;
    let size = u32::try_from(body.len() + 4).expect("a sasl-init is small");
    stream.write_all(&size.to_be_bytes()).await?;
    stream.write_all(&body).await?;
    stream.flush().await?;
    match read_frame(stream, shown).await? {
        Frame::Outcome(o) if matches!(o.code, SaslCode::Ok) => Ok(()),
        Frame::Outcome(o) => Err(Refused(format!(
            "SASL EXTERNAL refused by {shown} (outcome {}): the broker knows no user for the \
             client certificate's name (RabbitMQ: a user named as its subject, or its CN with \
             ssl_cert_login_from = common_name)",
            match o.code {
                SaslCode::Ok => "ok",
                SaslCode::Auth => "auth",
                SaslCode::Sys => "sys",
                SaslCode::SysPerm => "sys-perm",
                SaslCode::SysTemp => "sys-temp",
            }
        ))
        .into()),
        other => Err(anyhow!("{shown}: expected sasl-outcome, got {other:?}")),
    }
}

/// Reads one SASL frame: a 4-byte big-endian size that counts itself, then
/// the frame header and body, decoded by fe2o3-amqp's SASL frame codec.
async fn read_frame<S: AsyncRead + Unpin>(stream: &mut S, shown: &str) -> Result<Frame> {
    let mut size = [0u8; 4];
    stream.read_exact(&mut size).await?;
    let size = u32::from_be_bytes(size);
    if !(8..=MAX_SASL_FRAME).contains(&size) {
        return Err(anyhow!(
            "{shown}: SASL frame of {size} bytes is out of range"
        ));
    }
    let mut buf = BytesMut::zeroed(size as usize - 4);
    stream.read_exact(&mut buf).await?;
    FrameCodec {}
        .decode(&mut buf)
        .map_err(|e| anyhow!("{shown}: bad SASL frame: {e}"))?
        .ok_or_else(|| anyhow!("{shown}: empty SASL frame"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fe2o3_amqp::types::primitives::Array;
    use fe2o3_amqp::types::sasl::{SaslMechanisms, SaslOutcome};

    /// Writes `frame` as a broker would: size, then the codec's bytes.
    async fn send(io: &mut tokio::io::DuplexStream, frame: Frame) {
        let mut body = BytesMut::new();
        FrameCodec {}.encode(frame, &mut body).unwrap();
        io.write_all(&(body.len() as u32 + 4).to_be_bytes())
            .await
            .unwrap();
        io.write_all(&body).await.unwrap();
    }

    fn offer(names: &[&str]) -> Frame {
        Frame::Mechanisms(SaslMechanisms {
            sasl_server_mechanisms: Array(names.iter().map(|n| Symbol::from(*n)).collect()),
        })
    }

    /// A broker offering EXTERNAL: the client sends the SASL header, then a
    /// sasl-init with mechanism EXTERNAL and an EMPTY initial response (not
    /// none: RabbitMQ 3.10 refuses a missing one), and accepts outcome ok.
    #[tokio::test]
    async fn sends_an_empty_initial_response_and_accepts_ok() {
        let (mut client, mut broker) = tokio::io::duplex(4096);
        let peer = tokio::spawn(async move {
            let mut header = [0u8; 8];
            broker.read_exact(&mut header).await.unwrap();
            assert_eq!(header, SASL_HEADER);
            broker.write_all(&SASL_HEADER).await.unwrap();
            send(&mut broker, offer(&["PLAIN", "EXTERNAL"])).await;
            let init = read_frame(&mut broker, "client").await.unwrap();
            let Frame::Init(init) = init else {
                panic!("not an init: {init:?}")
            };
            assert_eq!(init.mechanism.as_str(), "EXTERNAL");
            assert_eq!(init.initial_response, Some(Binary::from(Vec::new())));
            assert_eq!(init.hostname.as_deref(), Some("broker.example"));
            let ok = SaslOutcome {
                code: SaslCode::Ok,
                additional_data: None,
            };
            send(&mut broker, Frame::Outcome(ok)).await;
        });
        external(&mut client, "broker.example", "amqps://broker.example")
            .await
            .unwrap();
        peer.await.unwrap();
    }

    /// A broker that offers no EXTERNAL is refused at once, naming what it
    /// offers; one that is not AMQP SASL at all is named too.
    #[tokio::test]
    async fn a_broker_without_external_is_refused_with_what_it_offers() {
        let (mut client, mut broker) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut header = [0u8; 8];
            broker.read_exact(&mut header).await.unwrap();
            broker.write_all(&SASL_HEADER).await.unwrap();
            send(&mut broker, offer(&["PLAIN", "AMQPLAIN"])).await;
            let _ = broker.read(&mut [0u8; 64]).await;
        });
        let e = external(&mut client, "h", "amqps://h").await.unwrap_err();
        assert!(e.is::<Refused>(), "{e:#}");
        assert!(
            e.to_string()
                .starts_with("amqps://h does not offer SASL EXTERNAL (it offers PLAIN AMQPLAIN)"),
            "{e:#}"
        );

        let (mut client, mut broker) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut header = [0u8; 8];
            broker.read_exact(&mut header).await.unwrap();
            broker.write_all(b"AMQP\x00\x01\x00\x00").await.unwrap();
        });
        let e = external(&mut client, "h", "amqps://h").await.unwrap_err();
        assert!(e.to_string().contains("does not offer SASL"), "{e:#}");
    }
}
