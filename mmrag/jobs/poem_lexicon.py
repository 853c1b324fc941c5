"""English words -> classical Chinese imagery (意象), written for this project.

Keys are the words the image side produces: ImageNet tag words, words of the neighbours' English
captions, and the basic colour terms of ``mmrag.facts``. Values are the characters or words a
classical poem would use for the same thing (a lake is 湖, a cup is 杯, a small songbird is 莺/雀).
Single characters are the norm because that is how poems name things; several values mean "any of
these", scored separately by the imagery route.

Only what can be seen: no moods, and no imagery the photo cannot show (a dark photo is not a night).
"""

from __future__ import annotations

LEXICON: dict[str, tuple[str, ...]] = {
    # water
    "lake": ("湖", "水"), "lakeside": ("湖", "岸"), "lakeshore": ("湖", "岸"), "pond": ("池", "塘"), "pool": ("池",),
    "river": ("江", "河", "水"), "stream": ("溪", "水"), "creek": ("溪",), "brook": ("溪",), "water": ("水",),
    "sea": ("海",), "ocean": ("海",), "seashore": ("海", "岸"), "coast": ("海", "岸"), "beach": ("沙", "岸"),
    "shore": ("岸",), "wave": ("浪", "波"), "waves": ("浪", "波"), "island": ("岛", "洲"), "waterfall": ("瀑",),
    "boat": ("舟", "船"), "canoe": ("舟",), "sailboat": ("帆", "舟"), "sail": ("帆",), "ship": ("船",), "bridge": ("桥",),
    "boathouse": ("舟", "岸"), "dock": ("渡",), "harbor": ("渡", "船"), "fishing": ("钓",), "fisherman": ("钓", "渔"),
    "reflection": ("影", "镜"),
    # land and sky
    "mountain": ("山", "峰"), "mountains": ("山", "峰"), "hill": ("山",), "hills": ("山",), "valley": ("谷", "山"),
    "cliff": ("崖", "石"), "rock": ("石",), "rocks": ("石",), "stone": ("石",), "forest": ("林", "树"),
    "forested": ("林",), "woods": ("林",), "wood": ("木",), "wooden": ("木",), "tree": ("树", "木"), "trees": ("树", "林"),
    "field": ("田", "野"), "meadow": ("原", "草"), "lawn": ("草",), "farm": ("田", "农"), "countryside": ("野", "村"),
    "desert": ("沙", "漠"), "sand": ("沙",), "path": ("径", "路"), "road": ("路",), "trail": ("径",),
    "sky": ("天", "空"), "cloud": ("云",), "clouds": ("云",), "cloudy": ("云",), "sun": ("日",), "sunny": ("日", "晴"),
    "sunlight": ("日", "光"), "sunshine": ("日", "晴"), "sunset": ("夕阳", "暮"), "dusk": ("暮", "黄昏"),
    "evening": ("暮", "夕"), "sunrise": ("晓", "朝"), "dawn": ("晓",), "morning": ("朝", "晓"), "night": ("夜",),
    "moon": ("月",), "star": ("星",), "stars": ("星",), "starry": ("星",), "galaxy": ("星", "河汉"),
    "galaxies": ("星", "河汉"), "universe": ("星", "天"), "space": ("天", "星"), "rain": ("雨",), "rainy": ("雨",),
    "snow": ("雪",), "snowy": ("雪",), "wind": ("风",), "windy": ("风",), "fog": ("雾", "烟"), "foggy": ("雾",),
    "mist": ("烟", "雾"), "misty": ("烟",), "storm": ("风雨", "雷"), "thunder": ("雷",), "lightning": ("电", "雷"),
    "frost": ("霜",), "ice": ("冰",), "smoke": ("烟",), "fire": ("火",), "flame": ("火",), "light": ("光",),
    "spring": ("春",), "summer": ("夏",), "autumn": ("秋",), "fall": ("秋",), "winter": ("冬", "寒"),
    # plants
    "flower": ("花",), "flowers": ("花",), "blossom": ("花",), "bloom": ("花",), "petal": ("花",), "petals": ("花",),
    "dahlia": ("花", "菊"), "chrysanthemum": ("菊",), "daisy": ("菊",), "rose": ("蔷薇", "花"), "lotus": ("莲", "荷"),
    "lily": ("荷",), "plum": ("梅",), "peach": ("桃",), "cherry": ("樱", "桃"), "orchid": ("兰",), "willow": ("柳",),
    "pine": ("松",), "bamboo": ("竹",), "grass": ("草",), "grassy": ("草",), "clover": ("草",), "weed": ("草",),
    "leaf": ("叶",), "leaves": ("叶",), "moss": ("苔",), "reed": ("芦", "苇"), "vine": ("藤",), "garden": ("园", "花"),
    "plant": ("草", "叶"), "plants": ("草", "叶"), "aloe": ("草",), "cactus": ("草",), "potted": ("盆",),
    "rapeseed": ("菜花", "田"), "crop": ("禾", "田"), "wheat": ("麦",), "rice": ("稻", "禾"), "fruit": ("果",),
    "fruits": ("果",), "citrus": ("橘", "柑"), "lemon": ("橘", "柑"), "lime": ("橘", "柑"), "oranges": ("橘",),
    "apple": ("果",), "grape": ("葡萄",), "mushroom": ("菌",),
    # animals
    "bird": ("鸟", "禽"), "birds": ("鸟", "鸦"), "robin": ("鸟", "莺"), "songbird": ("莺", "鸟"), "sparrow": ("雀",),
    "brambling": ("雀", "鸟"), "finch": ("雀",), "goldfinch": ("雀", "莺"), "perched": ("枝", "啼"), "crow": ("鸦",),
    "raven": ("鸦",), "goose": ("雁",), "geese": ("雁",), "swallow": ("燕",), "crane": ("鹤",), "duck": ("凫", "鸭"),
    "gull": ("鸥",), "egret": ("鹭",), "heron": ("鹭",), "eagle": ("鹰",), "hawk": ("鹰",), "cuckoo": ("杜鹃",),
    "flying": ("飞",), "butterfly": ("蝶",), "monarch": ("蝶",), "admiral": ("蝶",), "moth": ("蛾",), "bee": ("蜂",),
    "dragonfly": ("蜻蜓",), "cicada": ("蝉",), "cricket": ("蛩",), "insect": ("虫",), "fish": ("鱼",),
    "goldfish": ("鱼",), "cat": ("猫", "狸"), "kitten": ("猫",), "tabby": ("猫",), "dog": ("犬",), "puppy": ("犬",),
    "pekinese": ("犬",), "terrier": ("犬",), "horse": ("马",), "pony": ("马",), "deer": ("鹿",), "monkey": ("猿",),
    "ox": ("牛",), "cow": ("牛",), "cattle": ("牛",), "sheep": ("羊",), "goat": ("羊",), "chicken": ("鸡",),
    "rooster": ("鸡",), "squirrel": ("鼠", "松"), "rabbit": ("兔",), "tiger": ("虎",), "dragon": ("龙",),
    # buildings and places
    "palace": ("宫", "殿"), "temple": ("寺", "庙"), "pagoda": ("塔", "寺"), "monastery": ("寺", "僧"),
    "bell": ("钟",), "cote": ("钟",), "church": ("钟", "寺"), "tower": ("楼", "塔"), "castle": ("城",),
    "city": ("城",), "town": ("城",), "village": ("村",), "street": ("街", "巷"), "alley": ("巷",), "lane": ("巷",),
    "house": ("屋", "家"), "houses": ("屋", "家"), "home": ("家",), "cottage": ("舍", "庐"), "hut": ("庐", "舍"),
    "building": ("楼",), "buildings": ("楼",), "brick": ("砖",), "wall": ("墙", "壁"), "gate": ("门",),
    "door": ("门",), "window": ("窗",), "roof": ("檐", "瓦"), "tile": ("瓦",), "stairs": ("阶",), "steps": ("阶",),
    "courtyard": ("院", "庭"), "fence": ("篱",), "pavilion": ("亭",), "ruins": ("废", "荒"), "aerial": ("城", "天"),
    # things
    "cup": ("杯",), "mug": ("杯",), "espresso": ("杯", "茶"), "coffee": ("杯", "茶"), "tea": ("茶",),
    "teapot": ("茶",), "wine": ("酒",), "beer": ("酒",), "glass": ("杯",), "saucer": ("杯",), "table": ("案",),
    "book": ("书",), "books": ("书",), "notebook": ("书",), "letter": ("书", "信"), "mail": ("书", "信"),
    "paper": ("纸",), "pen": ("笔",), "brush": ("笔",), "ink": ("墨",), "lamp": ("灯",), "lantern": ("灯",),
    "lampshade": ("灯",), "candle": ("烛",), "mirror": ("镜",), "coin": ("钱",), "coins": ("钱",), "gold": ("金",),
    "silver": ("银",), "jade": ("玉",), "flag": ("旗",), "clock": ("时",), "flute": ("笛",), "guitar": ("琴",),
    "piano": ("琴",), "drum": ("鼓",), "sword": ("剑",), "bow": ("弓",), "car": ("车",), "cab": ("车",),
    "taxi": ("车",), "bus": ("车",), "motorcycle": ("车",), "motorbike": ("车",), "moped": ("车",), "bicycle": ("车",),
    "carriage": ("车",), "cart": ("车",), "rocket": ("烟", "天"), "candy": ("糖",), "candies": ("糖",),
    "bed": ("床",), "pillow": ("枕",), "chair": ("座",), "umbrella": ("伞",), "hat": ("冠",), "clothes": ("衣",),
    "dress": ("衣", "裳"), "uniform": ("戎", "衣"), "military": ("戎", "兵"), "soldier": ("兵", "征"),
    # people
    "woman": ("佳人",), "girl": ("女",), "lady": ("佳人",), "child": ("儿童",), "children": ("儿童",),
    "boy": ("童",), "old": ("老", "翁"), "fisher": ("渔",), "farmer": ("农",), "monk": ("僧",), "crowd": ("人",),
    "traveler": ("客", "行人"), "friends": ("故人", "友"),
    # colours (basic colour terms of mmrag.facts; brown and gray have no common poetic word)
    "red": ("红", "丹"), "green": ("绿", "青", "翠"), "blue": ("碧", "青"), "teal": ("碧", "翠"), "yellow": ("黄",),
    "white": ("白",), "black": ("黑",), "purple": ("紫",), "pink": ("红",), "golden": ("金", "黄"), "orange": ("丹",),
}

# Colour words say little about which poem fits (every other poem is green or white): wherever they
# come from (a caption, the facts) they count this share of a thing's weight.
COLOURS = frozenset({"red", "green", "blue", "teal", "yellow", "white", "black", "purple", "pink", "golden", "orange", "gray", "brown"})
COLOUR_SHARE = 0.3

# Facts that are not colours (mmrag.facts.VisualFacts.brightness / grayscale).
BRIGHTNESS = {"bright": ("明", "晴"), "dark": ("暗",)}
GRAYSCALE = ("素", "墨")

# Grammar words of English captions that are never imagery; listed so a tag word such as "fall"
# or "light" is only read as imagery when it is one.
STOPWORDS = frozenset(
    "a an the of on in at to with and or is are was were be by for from its it this that these those there "
    "near next some several two three one many very small large big little top front back side up down over "
    "under behind sitting standing looking view photo picture image close closeup".split()
)
