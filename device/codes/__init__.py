"""Codes: QR decoding chain, EMVCo merchant-presented payloads, customer wallet codes."""
