package tools

import "mime"

type mimeDecoder = mime.WordDecoder
