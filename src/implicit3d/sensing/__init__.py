"""sensing"""
