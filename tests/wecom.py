"""What WeCom sends to an app's callback URL, made the way WeCom's documentation describes it and
without the library the channel decrypts with: the message is AES-256-CBC encrypted with the
EncodingAESKey (the key is the base64 text plus "=", the IV its first 16 bytes, PKCS#7 padding
to 32 bytes) over 16 random bytes, the message's length (4 bytes, network order), the message
and the CorpID, then base64-encoded; msg_signature is the SHA-1 of the Token, the timestamp,
the nonce and that text, sorted and joined."""
from __future__ import annotations

import base64
import hashlib
import os
import struct
import time
import uuid
from typing import Dict, Optional, Tuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

CORP_ID = "ww5a1b2c3d4e5f6a7b"
TOKEN = "QDG6eKwecomToken"
# 43 characters: the base64 text of a 32-byte key without its "=".
AES_KEY = base64.b64encode(bytes(range(7, 39))).decode().rstrip("=")
APP_SECRET = "wecom-app-secret-for-tests"
AGENT_ID = "1000002"


def encrypt(plain: str, corp_id: str = CORP_ID, aes_key: str = AES_KEY) -> str:
    key = base64.b64decode(aes_key + "=")
    body = plain.encode()
    data = os.urandom(16) + struct.pack(">I", len(body)) + body + corp_id.encode()
    pad = 32 - len(data) % 32
    data += bytes([pad]) * pad
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode()


def sign(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted((token, timestamp, nonce, encrypted))).encode()).hexdigest()


def cdata(text: str) -> str:
    return "<![CDATA[" + text.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def text_message(user: str, content: str, msg_id: Optional[str] = None, agent_id: str = AGENT_ID,
                 corp_id: str = CORP_ID, msg_type: str = "text") -> str:
    """A member's text message to the app, as WeCom writes it before encrypting."""
    return (f"<xml><ToUserName>{cdata(corp_id)}</ToUserName><FromUserName>{cdata(user)}</FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType>{cdata(msg_type)}</MsgType>"
            f"<Content>{cdata(content)}</Content>"
            f"<MsgId>{msg_id or str(uuid.uuid4().int)[:19]}</MsgId><AgentID>{agent_id}</AgentID></xml>")


def envelope(encrypted: str, corp_id: str = CORP_ID, agent_id: str = AGENT_ID) -> str:
    """The body WeCom posts: the encrypted message in XML."""
    return (f"<xml><ToUserName>{cdata(corp_id)}</ToUserName><AgentID>{cdata(agent_id)}</AgentID>"
            f"<Encrypt>{cdata(encrypted)}</Encrypt></xml>")


def query(encrypted: str, token: str = TOKEN, timestamp: Optional[int] = None,
          nonce: Optional[str] = None) -> Dict[str, str]:
    """The signed query of a callback carrying `encrypted`."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or uuid.uuid4().hex[:10]
    return {"msg_signature": sign(token, stamp, nonce, encrypted), "timestamp": stamp,
            "nonce": nonce}


def callback(inner: str, token: str = TOKEN, corp_id: str = CORP_ID, aes_key: str = AES_KEY,
             timestamp: Optional[int] = None) -> Tuple[Dict[str, str], str]:
    """(query, body) of a callback carrying the message `inner`, encrypted and signed."""
    encrypted = encrypt(inner, corp_id, aes_key)
    return query(encrypted, token, timestamp), envelope(encrypted, corp_id)
