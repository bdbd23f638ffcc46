"""models/encoders"""
