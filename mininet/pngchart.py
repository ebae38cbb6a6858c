"""A small grouped bar chart written as a PNG with the standard library only (zlib + struct): a pixel
buffer, filled rectangles, a 5x7 bitmap font (upper case, digits, a little punctuation), and the PNG
chunks. Enough for a benchmark's figure without installing matplotlib.

    barChart('out.png', title, series=[('tinflow', (r, g, b)), ...],
             panels=[{'title': 'TCP MBIT/S', 'subtitle': 'HIGHER IS BETTER',
                      'groups': [{'label': 'SINGLE,3', 'values': [1807, 578], 'note': '3.1X'}]}])
"""

import struct
import zlib

# 5x7 glyphs, one string of 7 rows x 5 columns each ('#' = ink). Lower case is drawn as upper case.
_FONT_ROWS = {
    'A': '.###. #...# #...# ##### #...# #...# #...#',
    'B': '####. #...# #...# ####. #...# #...# ####.',
    'C': '.###. #...# #.... #.... #.... #...# .###.',
    'D': '###.. #..#. #...# #...# #...# #..#. ###..',
    'E': '##### #.... #.... ####. #.... #.... #####',
    'F': '##### #.... #.... ####. #.... #.... #....',
    'G': '.###. #...# #.... #.### #...# #...# .####',
    'H': '#...# #...# #...# ##### #...# #...# #...#',
    'I': '.###. ..#.. ..#.. ..#.. ..#.. ..#.. .###.',
    'J': '..### ...#. ...#. ...#. ...#. #..#. .##..',
    'K': '#...# #..#. #.#.. ##... #.#.. #..#. #...#',
    'L': '#.... #.... #.... #.... #.... #.... #####',
    'M': '#...# ##.## #.#.# #.#.# #...# #...# #...#',
    'N': '#...# #...# ##..# #.#.# #..## #...# #...#',
    'O': '.###. #...# #...# #...# #...# #...# .###.',
    'P': '####. #...# #...# ####. #.... #.... #....',
    'Q': '.###. #...# #...# #...# #.#.# #..#. .##.#',
    'R': '####. #...# #...# ####. #.#.. #..#. #...#',
    'S': '.#### #.... #.... .###. ....# ....# ####.',
    'T': '##### ..#.. ..#.. ..#.. ..#.. ..#.. ..#..',
    'U': '#...# #...# #...# #...# #...# #...# .###.',
    'V': '#...# #...# #...# #...# #...# .#.#. ..#..',
    'W': '#...# #...# #...# #.#.# #.#.# #.#.# .#.#.',
    'X': '#...# #...# .#.#. ..#.. .#.#. #...# #...#',
    'Y': '#...# #...# .#.#. ..#.. ..#.. ..#.. ..#..',
    'Z': '##### ....# ...#. ..#.. .#... #.... #####',
    '0': '.###. #...# #..## #.#.# ##..# #...# .###.',
    '1': '..#.. .##.. ..#.. ..#.. ..#.. ..#.. .###.',
    '2': '.###. #...# ....# ...#. ..#.. .#... #####',
    '3': '##### ...#. ..#.. ...#. ....# #...# .###.',
    '4': '...#. ..##. .#.#. #..#. ##### ...#. ...#.',
    '5': '##### #.... ####. ....# ....# #...# .###.',
    '6': '..##. .#... #.... ####. #...# #...# .###.',
    '7': '##### ....# ...#. ..#.. .#... .#... .#...',
    '8': '.###. #...# #...# .###. #...# #...# .###.',
    '9': '.###. #...# #...# .#### ....# ...#. .##..',
    ' ': '..... ..... ..... ..... ..... ..... .....',
    '.': '..... ..... ..... ..... ..... .##.. .##..',
    ',': '..... ..... ..... ..... .##.. ..#.. .#...',
    ':': '..... .##.. .##.. ..... .##.. .##.. .....',
    '/': '..... ....# ...#. ..#.. .#... #.... .....',
    '(': '...#. ..#.. .#... .#... .#... ..#.. ...#.',
    ')': '.#... ..#.. ...#. ...#. ...#. ..#.. .#...',
    '%': '##... ##..# ...#. ..#.. .#... #..## ...##',
    '-': '..... ..... ..... ##### ..... ..... .....',
    '+': '..... ..#.. ..#.. ##### ..#.. ..#.. .....',
    '=': '..... ..... ##### ..... ##### ..... .....',
    '<': '...#. ..#.. .#... #.... .#... ..#.. ...#.',
    '>': '.#... ..#.. ...#. ....# ...#. ..#.. .#...',
    '_': '..... ..... ..... ..... ..... ..... #####',
    "'": '..#.. ..#.. ..... ..... ..... ..... .....',
    '\u00d7': '..... #...# .#.#. ..#.. .#.#. #...# .....',  # multiplication sign
    '?': '.###. #...# ....# ...#. ..#.. ..... ..#..',
}
FONT = {ch: [row for row in rows.split()] for ch, rows in _FONT_ROWS.items()}
GLYPH_W, GLYPH_H, ADVANCE = 5, 7, 6

WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
GREY = (120, 120, 120)
LIGHT = (225, 225, 225)


class Canvas(object):
    "An RGB pixel buffer with the few drawing operations a bar chart needs."

    def __init__(self, width, height, background=WHITE):
        self.width, self.height = width, height
        self.rows = [bytearray(bytes(background) * width) for _ in range(height)]

    def rect(self, x0, y0, x1, y1, color):
        "Fills [x0, x1) x [y0, y1), clipped to the canvas."
        x0, x1 = max(0, int(x0)), min(self.width, int(x1))
        y0, y1 = max(0, int(y0)), min(self.height, int(y1))
        if x0 >= x1:
            return
        span = bytes(color) * (x1 - x0)
        for y in range(y0, y1):
            self.rows[y][3 * x0:3 * x1] = span

    @staticmethod
    def textWidth(text, scale=1):
        return max(0, len(text) * ADVANCE * scale - scale)

    def text(self, x, y, text, color=BLACK, scale=1, align='left'):
        "Draws text with its top at y; align: left (x is the left edge), center or right."
        if align == 'center':
            x -= self.textWidth(text, scale) // 2
        elif align == 'right':
            x -= self.textWidth(text, scale)
        for i, ch in enumerate(text.upper()):
            glyph = FONT.get(ch, FONT['?'])
            gx = x + i * ADVANCE * scale
            for row, bits in enumerate(glyph):
                for col, bit in enumerate(bits):
                    if bit == '#':
                        self.rect(gx + col * scale, y + row * scale, gx + (col + 1) * scale, y + (row + 1) * scale, color)

    def png(self):
        "The image as PNG bytes (8-bit RGB, no filtering)."
        raw = b''.join(b'\x00' + bytes(row) for row in self.rows)

        def chunk(kind, data):
            return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)
        return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', self.width, self.height, 8, 2, 0, 0, 0))
                + chunk(b'IDAT', zlib.compress(raw, 9)) + chunk(b'IEND', b''))

    def save(self, path):
        with open(path, 'wb') as f:
            f.write(self.png())


def formatValue(v):
    "A bar's value label: 3 significant digits or so."
    if v >= 100:
        return '%.0f' % v
    if v >= 10:
        return '%.1f' % v
    return '%.2f' % v


def niceMax(v):
    "The smallest of 1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^k that is at least v (the axis' top; its fifths are round)."
    if v <= 0:
        return 1.0
    k = 1.0
    while k * 10 < v:
        k *= 10
    while k > v:
        k /= 10
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if k * m >= v:
            return k * m
    return k * 10


def barChart(path, title, series, panels, footer=None, panelWidth=320, height=420):
    """Writes a PNG: one panel per metric side by side, in each a group of bars per topology (one bar per
       series, None values left out), value labels over the bars, a note under each group, and a legend.
       series: [(label, (r, g, b))]; panels: [{'title', 'subtitle', 'groups': [{'label', 'values', 'note'}]}]."""
    width = panelWidth * len(panels) + 20
    c = Canvas(width, height)
    c.text(width // 2, 10, title, scale=2, align='center')
    top, bottom = 80, height - 90  # the plot area's vertical extent
    for p, panel in enumerate(panels):
        x0 = 10 + p * panelWidth
        left, right = x0 + 46, x0 + panelWidth - 14
        c.text((left + right) // 2, 36, panel['title'], scale=2, align='center')
        c.text((left + right) // 2, 56, panel.get('subtitle', ''), color=GREY, align='center')
        values = [v for g in panel['groups'] for v in g['values'] if v is not None]
        axisMax = niceMax(max(values) * 1.12 if values else 1.0)
        for i in range(6):  # grid lines and their values
            y = bottom - (bottom - top) * i // 5
            c.rect(left, y, right, y + 1, LIGHT if i else BLACK)
            c.text(left - 4, y - 3, '%g' % float('%.3g' % (axisMax * i / 5)), color=GREY, align='right')
        groups = panel['groups']
        groupW = (right - left) / max(1, len(groups))
        for g, group in enumerate(groups):
            gx = left + g * groupW
            n = len(group['values'])
            barW = groupW * 0.8 / max(1, n)
            for b, v in enumerate(group['values']):
                if v is None:
                    continue
                bx = gx + groupW * 0.1 + b * barW
                h = (bottom - top) * v / axisMax
                c.rect(bx + 2, bottom - h, bx + barW - 2, bottom, series[b][1])
                c.text(int(bx + barW / 2), int(bottom - h) - 10, formatValue(v), align='center')
            cx = int(gx + groupW / 2)
            c.text(cx, bottom + 8, group['label'], align='center')
            if group.get('note'):
                c.text(cx, bottom + 20, group['note'], color=GREY, align='center')
    ly = height - 46
    x = 20
    for label, color in series:  # legend
        c.rect(x, ly, x + 12, ly + 9, color)
        c.text(x + 17, ly + 1, label)
        x += 17 + c.textWidth(label) + 24
    if footer:
        c.text(20, height - 24, footer, color=GREY)
    c.save(path)
